// The serving process's V8 settings (src/process-tuning.ts): the young generation stops growing at its cap. Each case
// runs in a child process of its own (V8 flags are process-wide), which keeps a burst of objects alive as a burst of
// connections does, and reports the young generation's size.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";

const TUNING = new URL("../src/process-tuning.js", import.meta.url).href;
const MiB = 1024 * 1024;

/**
 * The young generation's size (bytes) right after tuning, and the largest seen while 60 bursts each keep 4,000 small
 * objects alive: each burst in a turn of the event loop of its own, or all of them in one turn (as the gateway's own
 * start-up, or a burst of opens read in one poll, does).
 */
function youngGeneration(tuned: boolean, oneTurn: boolean): { atStart: number; most: number } {
  const script = `
    import v8 from "node:v8";
    const young = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space").space_size;
    ${tuned ? `const { tuneProcessForServing } = await import(${JSON.stringify(TUNING)}); tuneProcessForServing();` : ""}
    const atStart = young();
    const kept = [];
    let most = 0;
    for (let turn = 0; turn < 60; turn++) {
      for (let i = 0; i < 4000; i++) kept.push({ id: i, list: [i], text: "session " + i });
      ${oneTurn ? "" : "await new Promise((resolve) => setImmediate(resolve));"}
      most = Math.max(most, young());
    }
    process.stdout.write(JSON.stringify({ atStart, most }));
  `;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { timeout: 30_000 });
  return JSON.parse(out.toString()) as { atStart: number; most: number };
}

describe("process tuning for serving", () => {
  it("caps the young generation at 16 MiB where V8 alone grows it to 32 MiB under a burst of survivors", () => {
    const untuned = youngGeneration(false, false).most;
    const tuned = youngGeneration(true, false).most;
    // Without the cap this burst takes V8 to its maximum: the test shows what the cap changes.
    assert.ok(untuned > 16 * MiB, `V8 alone grew the young generation to ${untuned / MiB} MiB`);
    assert.ok(tuned <= 16 * MiB, `the young generation grew to ${tuned / MiB} MiB past its 16 MiB cap`);
  });

  it("holds the cap from the start: young generation at 16 MiB once tuned, a burst in one turn takes it no further", () => {
    const { atStart, most } = youngGeneration(true, true);
    assert.equal(atStart, 16 * MiB, `the young generation is ${atStart / MiB} MiB once tuned, not 16`);
    assert.ok(most <= 16 * MiB, `a burst in one turn grew the young generation to ${most / MiB} MiB past its cap`);
  });

  it("takes a smaller maximum the operator set (--max-semi-space-size=4) as its cap, and does not try again at each collection", () => {
    const script = `
      import v8 from "node:v8";
      import { PerformanceObserver } from "node:perf_hooks";
      const young = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space").space_size;
      const { tuneProcessForServing } = await import(${JSON.stringify(TUNING)});
      tuneProcessForServing();
      const atStart = young();
      let collections = 0;
      new PerformanceObserver((list) => { collections += list.getEntries().length; }).observe({ entryTypes: ["gc"] });
      const kept = [];
      for (let turn = 0; turn < 60; turn++) {
        for (let i = 0; i < 4000; i++) kept.push({ id: i, list: [i], text: "session " + i });
        await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      process.stdout.write(JSON.stringify({ atStart, collections }));
    `;
    const out = execFileSync(process.execPath, ["--max-semi-space-size=4", "--input-type=module", "-e", script], {
      timeout: 30_000,
    });
    const { atStart, collections } = JSON.parse(out.toString()) as { atStart: number; collections: number };
    assert.equal(atStart, 8 * MiB, `the young generation is ${atStart / MiB} MiB once tuned, not V8's maximum of 8`);
    // The burst alone takes a few dozen at most; growing again at each one took thousands.
    assert.ok(collections < 200, `${collections} collections during a burst of 25 MB`);
  });
  it("collects what starting left in the old generation once serving begins, and leaves no gc() exposed", () => {
    const script = `
      import v8 from "node:v8";
      import { runInNewContext } from "node:vm";
      const oldUsed = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === "old_space").space_used_size;
      const { tuneProcessForServing, collectStartGarbage } = await import(${JSON.stringify(TUNING)});
      tuneProcessForServing();
      // Start-up's garbage: objects that live through a few young collections (promoted), then are dropped.
      let startup = [];
      for (let turn = 0; turn < 40; turn++) {
        for (let i = 0; i < 4000; i++) startup.push({ id: i, list: [i], text: "config " + i });
        await new Promise((resolve) => setImmediate(resolve));
      }
      startup = undefined;
      const before = oldUsed();
      collectStartGarbage();
      const after = oldUsed();
      process.stdout.write(JSON.stringify({
        before, after, exposed: typeof globalThis.gc, inNewContext: runInNewContext("typeof gc"),
      }));
    `;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { timeout: 30_000 });
    const result = JSON.parse(out.toString()) as {
      before: number;
      after: number;
      exposed: string;
      inNewContext: string;
    };
    // 160,000 promoted objects of ~100 B: at least 8 MB of garbage in the old generation before the collection.
    assert.ok(
      result.before - result.after > 8 * MiB,
      `old generation ${result.before} -> ${result.after} B: the start's garbage is still there`,
    );
    assert.equal(result.exposed, "undefined", "gc() is left on the global object");
    assert.equal(result.inNewContext, "undefined", "--expose-gc is left set for later contexts");
  });
  it("started with --expose-gc, collects with that gc and leaves the flag as the operator set it", () => {
    const script = `
      import { runInNewContext } from "node:vm";
      const { collectStartGarbage } = await import(${JSON.stringify(TUNING)});
      let calls = 0;
      const operatorGc = globalThis.gc;
      globalThis.gc = () => { calls++; operatorGc(); };
      collectStartGarbage();
      process.stdout.write(JSON.stringify({ calls, inNewContext: runInNewContext("typeof gc") }));
    `;
    const out = execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
      timeout: 30_000,
    });
    const { calls, inNewContext } = JSON.parse(out.toString()) as { calls: number; inNewContext: string };
    assert.equal(calls, 1, "the operator's gc was not the one used");
    assert.equal(inNewContext, "function", "--expose-gc was cleared although the operator set it");
  });
});
