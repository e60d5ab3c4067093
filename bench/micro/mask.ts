/**
 * The masking path: bufferutil's native mask/unmask (what `ws` uses when it loads), bufferutil's own JS fallback,
 * and a plain byte loop like the one FrameStream uses for control payloads; ns per call and MB/s.
 */
import { randomFillSync } from "node:crypto";
import { createRequire } from "node:module";
import { timeCase, type CaseResult, type Timing } from "./timing.js";

interface Masker {
  mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  unmask(buffer: Buffer, mask: Buffer): void;
}

const require = createRequire(import.meta.url);
const bufferutil = require("bufferutil") as Masker;
const fallback = require("bufferutil/fallback.js") as Masker;

/** Whether bufferutil loaded its native addon (a prebuilt binary) or fell back to JS. */
export const bufferutilNative = bufferutil.unmask !== fallback.unmask;

function byteLoopUnmask(buffer: Buffer, mask: Buffer): void {
  for (let i = 0; i < buffer.length; i++) buffer[i] = (buffer[i] as number) ^ (mask[i & 3] as number);
}

const SIZES = [
  { label: "64 B", bytes: 64, perBatch: 1000 },
  { label: "16 KiB", bytes: 16 * 1024, perBatch: 16 },
];

export function maskCases(timing: Timing): CaseResult[] {
  const key = randomFillSync(Buffer.allocUnsafe(4));
  const results: CaseResult[] = [];
  for (const size of SIZES) {
    const source = randomFillSync(Buffer.allocUnsafe(size.bytes));
    const output = Buffer.allocUnsafe(size.bytes);
    const work = Buffer.from(source);
    const repeat =
      (call: () => void): (() => void) =>
      () => {
        for (let i = 0; i < size.perBatch; i++) call();
      };
    // Unmasking in place twice restores the bytes, so every variant works on the same data throughout.
    const variants: Array<[string, () => void]> = [
      [
        `bufferutil${bufferutilNative ? "" : " (JS fallback!)"} mask`,
        () => bufferutil.mask(source, key, output, 0, size.bytes),
      ],
      [`bufferutil${bufferutilNative ? "" : " (JS fallback!)"} unmask`, () => bufferutil.unmask(work, key)],
      ["bufferutil JS fallback unmask", () => fallback.unmask(work, key)],
      ["JS byte loop unmask", () => byteLoopUnmask(work, key)],
    ];
    for (const [name, call] of variants)
      results.push(timeCase(`mask: ${name}, ${size.label}`, repeat(call), size.perBatch, size.bytes, timing));
  }
  return results;
}
