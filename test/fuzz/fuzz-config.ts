// How many cases the property tests run and from which seed, so that any failure replays.
//   WSGATE_SEED=<int>        replay a run (the seed is printed at the start of every property test file)
//   WSGATE_FUZZ_RUNS=<n>     cases per property (default: the small count each test gives, to stay fast in npm test)
//   WSGATE_FUZZ_TIME_MS=<ms> stop each property after this long (runs done so far count as a pass)
import type fc from "fast-check";

const DEFAULT_SEED = 20_250_608;

function envInt(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === "") return undefined;
  const value = Number(text);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got '${text}'`);
  return value;
}

export const FUZZ_SEED = envInt("WSGATE_SEED") ?? DEFAULT_SEED;

let announced = false;

/** Prints the seed once per test file, with how to replay it. */
export function announceSeed(what: string): void {
  if (announced) return;
  announced = true;
  console.log(`# ${what}: fast-check seed ${FUZZ_SEED} (replay with WSGATE_SEED=${FUZZ_SEED})`);
}

/**
 * fast-check parameters for one property: the shared seed, `runs` cases unless overridden, a time bound.
 * `shrink: false` reports the first failing case as it is (for end-to-end cases, where each try costs a session).
 */
export function fuzzParameters<T>(runs: number, options: { shrink?: boolean } = {}): fc.Parameters<T> {
  const shrink = options.shrink ?? true;
  return {
    seed: FUZZ_SEED,
    numRuns: envInt("WSGATE_FUZZ_RUNS") ?? runs,
    endOnFailure: !shrink && process.env.WSGATE_FUZZ_SHRINK === undefined,
    includeErrorInReport: true,
    // The option form works on every fast-check 4.x (the plugin form is newer).
    interruptAfterTimeLimit: envInt("WSGATE_FUZZ_TIME_MS"),
  };
}
