// SessionBook's ended totals: each session's final totals land under its own label set, found through the index a
// session's end uses instead of building labels and a key, and a set dropped by `forget` starts again from zero.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SessionBook, type SessionTotals } from "../../src/observability/session-book.js";
import type { LiveSession } from "../../src/observability/sessions.js";

function session(server: string, route: string, backend: string): LiveSession {
  return { server, route, backend } as unknown as LiveSession;
}

function totals(messages: number): SessionTotals {
  return { fromClient: { messages, bytes: messages * 10 }, fromBackend: { messages: 1, bytes: 2 } };
}

function endedUnder(book: SessionBook, server: string, route: string, backend: string): SessionTotals | undefined {
  // With no live session, the book's totals are the ended ones.
  const found = book
    .totals()
    .find(({ labels }) => labels.server === server && labels.route === route && labels.backend === backend);
  return found?.totals;
}

describe("SessionBook: ended totals", () => {
  it("adds each session's totals to its own label set, however the sets share parts", () => {
    const book = new SessionBook();
    const sets: Array<[string, string, string]> = [
      ["s1", "r1", "b1"],
      ["s1", "r1", "b2"],
      ["s1", "r2", "b1"],
      ["s2", "r1", "b1"],
    ];
    for (let round = 1; round <= 3; round++) {
      for (const [i, set] of sets.entries()) {
        const one = session(...set);
        book.started(one);
        assert.equal(book.ended(one, totals(i + 1)), true);
        assert.equal(book.ended(one, totals(100)), false, "a session ends once");
      }
    }
    for (const [i, set] of sets.entries()) {
      assert.deepEqual(endedUnder(book, ...set), {
        fromClient: { messages: 3 * (i + 1), bytes: 30 * (i + 1) },
        fromBackend: { messages: 3, bytes: 6 },
      });
    }
  });

  it("a label set dropped by forget counts again from zero, and what ends under it is not lost", () => {
    const book = new SessionBook();
    const first = session("s", "r", "b");
    book.started(first);
    book.ended(first, totals(5));
    book.forget((labels) => labels.route === "r");
    assert.equal(endedUnder(book, "s", "r", "b"), undefined);
    const second = session("s", "r", "b");
    book.started(second);
    book.ended(second, totals(2));
    assert.deepEqual(endedUnder(book, "s", "r", "b"), {
      fromClient: { messages: 2, bytes: 20 },
      fromBackend: { messages: 1, bytes: 2 },
    });
  });
});
