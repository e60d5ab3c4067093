// Shared builders for the upstream tests.
import type { BalanceContext } from "../../src/upstream/balancer.js";
import { UpstreamServer } from "../../src/upstream/server.js";

export function servers(...weights: number[]): UpstreamServer[] {
  return weights.map(
    (weight, index) =>
      new UpstreamServer({ url: `http://10.0.0.${index + 1}:8080`, weight, keepHost: false, tags: [] }),
  );
}

export const context: BalanceContext = { clientIp: "192.0.2.1", headers: {} };

/** Deterministic PRNG (mulberry32) so distribution tests cannot flake. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/** Name of each server as its index letter, for readable sequences. */
export function namer(list: readonly UpstreamServer[]): (server: UpstreamServer | undefined) => string {
  return (server) => (server === undefined ? "-" : "abcdefghijklmnopqrstuvwxyz".charAt(list.indexOf(server)));
}

export function countPicks(
  list: readonly UpstreamServer[],
  picks: number,
  pick: () => UpstreamServer | undefined,
): number[] {
  const counts = list.map(() => 0);
  for (let round = 0; round < picks; round++) {
    const chosen = pick();
    if (chosen === undefined) throw new Error("no server picked");
    const index = list.indexOf(chosen);
    counts[index] = (counts[index] ?? 0) + 1;
  }
  return counts;
}
