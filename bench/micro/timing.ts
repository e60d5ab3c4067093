/**
 * How the micro benchmarks time a case: run it in a loop for a fixed slice of time, several times, and keep the
 * median of the CPU time per operation (process.cpuUsage: on a shared machine, time spent waiting for a core is
 * not counted, as wall time would count it).
 */
import { performance } from "node:perf_hooks";

export interface CaseResult {
  name: string;
  /** Median CPU ns per operation (a frame, or one mask call). */
  nsPerOp: number;
  /** Payload MB/s (10^6 bytes) at that CPU time per operation. */
  mbPerS: number;
  /** The spread of the samples: min and max ns per operation. */
  minNs: number;
  maxNs: number;
  samples: number;
}

export interface Timing {
  /** Wall time of one sample. */
  sampleMs: number;
  samples: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/**
 * Times `batch`, which does `opsPerBatch` operations moving `bytesPerOp` payload bytes each. One untimed sample
 * first lets the JIT settle.
 */
export function timeCase(
  name: string,
  batch: () => void,
  opsPerBatch: number,
  bytesPerOp: number,
  timing: Timing,
): CaseResult {
  const perOp: number[] = [];
  for (let sample = -1; sample < timing.samples; sample++) {
    const cpuBefore = process.cpuUsage();
    const deadline = performance.now() + timing.sampleMs;
    let batches = 0;
    do {
      batch();
      batches++;
    } while (performance.now() < deadline);
    const cpu = process.cpuUsage(cpuBefore);
    if (sample >= 0) perOp.push(((cpu.user + cpu.system) * 1000) / (batches * opsPerBatch));
  }
  const nsPerOp = median(perOp);
  return {
    name,
    nsPerOp,
    mbPerS: bytesPerOp === 0 ? 0 : (bytesPerOp / nsPerOp) * 1000,
    minNs: Math.min(...perOp),
    maxNs: Math.max(...perOp),
    samples: perOp.length,
  };
}
