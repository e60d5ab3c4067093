// The serving process's V8 settings (src/process-tuning.ts): the young generation stops growing at its cap. Each case
// runs in a child process of its own (V8 flags are process-wide), which keeps a burst of objects alive as a burst of
// connections does, and reports the young generation's size.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";

const TUNING = new URL("../src/process-tuning.js", import.meta.url).href;

/** The largest young generation (bytes) seen while 60 turns of the event loop each keep 4,000 small objects alive. */
function youngGenerationAfterBurst(tuned: boolean): number {
  const script = `
    import v8 from "node:v8";
    ${tuned ? `const { tuneProcessForServing } = await import(${JSON.stringify(TUNING)}); tuneProcessForServing();` : ""}
    const young = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space").space_size;
    const kept = [];
    let most = 0;
    for (let turn = 0; turn < 60; turn++) {
      for (let i = 0; i < 4000; i++) kept.push({ id: i, list: [i], text: "session " + i });
      await new Promise((resolve) => setImmediate(resolve));
      most = Math.max(most, young());
    }
    process.stdout.write(String(most));
  `;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { timeout: 30_000 });
  return Number(out.toString());
}

describe("process tuning for serving", () => {
  it("caps the young generation at 16 MiB where V8 alone grows it to 32 MiB under a burst of survivors", () => {
    const untuned = youngGenerationAfterBurst(false);
    const tuned = youngGenerationAfterBurst(true);
    const MiB = 1024 * 1024;
    // Without the cap this burst takes V8 to its maximum: the test shows what the cap changes.
    assert.ok(untuned > 16 * MiB, `V8 alone grew the young generation to ${untuned / MiB} MiB`);
    assert.ok(tuned <= 16 * MiB, `the young generation grew to ${tuned / MiB} MiB past its 16 MiB cap`);
  });
});
