// What WebSocket sessions relayed, for metrics read at scrape time: live sessions are asked for their totals
// (`LiveSession.totals()`), ended ones leave theirs here. Counts are exact and the relay does no extra work.
import { LinkedSet } from "../util/linked-set.js";
import type { LiveSession } from "./sessions.js";

/** The labels a session is counted under. */
export interface SessionLabels {
  server: string;
  route: string;
  backend: string;
}

export interface Relayed {
  messages: number;
  bytes: number;
}

export interface SessionTotals {
  fromClient: Relayed;
  fromBackend: Relayed;
}

export interface LabelledTotals {
  labels: SessionLabels;
  totals: SessionTotals;
}

function labelsOf(session: LiveSession): SessionLabels {
  return { server: session.server, route: session.route, backend: session.backend };
}

function keyOf(labels: SessionLabels): string {
  return `${labels.server}\u0000${labels.route}\u0000${labels.backend}`;
}

function emptyTotals(): SessionTotals {
  return { fromClient: { messages: 0, bytes: 0 }, fromBackend: { messages: 0, bytes: 0 } };
}

function addTo(sum: SessionTotals, more: SessionTotals): void {
  sum.fromClient.messages += more.fromClient.messages;
  sum.fromClient.bytes += more.fromClient.bytes;
  sum.fromBackend.messages += more.fromBackend.messages;
  sum.fromBackend.bytes += more.fromBackend.bytes;
}

function addUnder(book: Map<string, LabelledTotals>, labels: SessionLabels, more: SessionTotals): void {
  const key = keyOf(labels);
  const entry = book.get(key) ?? { labels, totals: emptyTotals() };
  addTo(entry.totals, more);
  book.set(key, entry);
}

export class SessionBook {
  readonly #live = new LinkedSet<LiveSession>();
  /** Totals of ended sessions by label set; label sets stay once seen, so that the gauge shows 0, not nothing. */
  readonly #ended = new Map<string, LabelledTotals>();
  /**
   * `#ended`'s entries by server, route and backend: a session's end finds its entry without building its labels
   * and key. Rebuilt as sessions end after `forget`, the only place entries leave `#ended`.
   */
  readonly #endedBy = new Map<string, Map<string, Map<string, LabelledTotals>>>();
  /** Of `#ended`, the totals of sessions that went on in another process (`wsgate upgrade`). */
  readonly #movedAway = new Map<string, LabelledTotals>();

  started(session: LiveSession): void {
    this.#live.add(session);
  }

  /** Moves the session's final totals to the ended ones; false when it was not started here (or ended already). */
  ended(session: LiveSession, final: SessionTotals): boolean {
    if (!this.#live.delete(session)) return false;
    addTo(this.#endedEntry(session).totals, final);
    return true;
  }

  /** The ended totals `session` adds to, made (and indexed) the first time its label set ends. */
  #endedEntry(session: LiveSession): LabelledTotals {
    const { server, route, backend } = session;
    let byRoute = this.#endedBy.get(server);
    let byBackend = byRoute?.get(route);
    let entry = byBackend?.get(backend);
    if (entry !== undefined) return entry;
    const labels = labelsOf(session);
    const key = keyOf(labels);
    entry = this.#ended.get(key);
    if (entry === undefined) {
      entry = { labels, totals: emptyTotals() };
      this.#ended.set(key, entry);
    }
    if (byRoute === undefined) {
      byRoute = new Map();
      this.#endedBy.set(server, byRoute);
    }
    if (byBackend === undefined) {
      byBackend = new Map();
      byRoute.set(route, byBackend);
    }
    byBackend.set(backend, entry);
    return entry;
  }

  /**
   * A session handed to another process: its totals so far stay here as ended ones, and are noted as gone with it
   * (its relay counts on from them there, so a snapshot for that process leaves them out: `movedAway`).
   */
  movedOut(session: LiveSession, totals: SessionTotals): boolean {
    if (!this.ended(session, totals)) return false;
    addUnder(this.#movedAway, labelsOf(session), totals);
    return true;
  }

  /** What the sessions handed to another process had relayed here, per label set. */
  movedAway(): Iterable<LabelledTotals> {
    return this.#movedAway.values();
  }

  /** Drops the ended totals of label sets `gone` says are no longer configured (live sessions still count). */
  forget(gone: (labels: SessionLabels) => boolean): void {
    for (const [key, entry] of this.#ended) if (gone(entry.labels)) this.#ended.delete(key);
    this.#endedBy.clear();
    for (const [key, entry] of this.#movedAway) if (gone(entry.labels)) this.#movedAway.delete(key);
  }

  /** Live sessions per label set, with 0 for sets that only ended sessions have. */
  active(): Array<{ labels: SessionLabels; count: number }> {
    const counts = new Map<string, { labels: SessionLabels; count: number }>();
    for (const [key, { labels }] of this.#ended) counts.set(key, { labels, count: 0 });
    for (const session of this.#live) {
      const labels = labelsOf(session);
      const key = keyOf(labels);
      const entry = counts.get(key) ?? { labels, count: 0 };
      entry.count++;
      counts.set(key, entry);
    }
    return [...counts.values()];
  }

  /** Live sessions per server and transport (`h1`, `h2`), counted at scrape time: no work per session start. */
  byTransport(): Array<{ server: string; transport: string; count: number }> {
    const counts = new Map<string, { server: string; transport: string; count: number }>();
    for (const session of this.#live) {
      const transport = session.transport ?? "h1";
      const key = `${session.server}\u0000${transport}`;
      const entry = counts.get(key) ?? { server: session.server, transport, count: 0 };
      entry.count++;
      counts.set(key, entry);
    }
    return [...counts.values()];
  }

  /** Ended plus live totals over every label set: what the dashboard charts, without a key or an object per session. */
  sum(): SessionTotals {
    const sum = emptyTotals();
    for (const { totals } of this.#ended.values()) addTo(sum, totals);
    for (const session of this.#live) addTo(sum, session.totals());
    return sum;
  }

  /** Ended plus live totals, per label set. */
  totals(): LabelledTotals[] {
    const sums = new Map<string, LabelledTotals>();
    for (const [key, { labels, totals }] of this.#ended) {
      const copy = emptyTotals();
      addTo(copy, totals);
      sums.set(key, { labels, totals: copy });
    }
    for (const session of this.#live) {
      const labels = labelsOf(session);
      const key = keyOf(labels);
      const entry = sums.get(key) ?? { labels, totals: emptyTotals() };
      addTo(entry.totals, session.totals());
      sums.set(key, entry);
    }
    return [...sums.values()];
  }
}
