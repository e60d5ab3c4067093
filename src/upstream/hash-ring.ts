// Consistent-hash ring with virtual nodes: removing one of N servers remaps only about 1/N of the keys.
import { effectiveWeight, isEligible } from "./eligibility.js";
import { hash32 } from "./hash32.js";
import type { UpstreamServer } from "./server.js";

const VIRTUAL_NODES_PER_WEIGHT = 160;
// Bounds memory (8 bytes a node) and build time when weights are large.
const MAX_VIRTUAL_NODES = 160 * 1024;

export class HashRing {
  /** Sorted node positions. */
  readonly #positions: Uint32Array;
  /** Owner of the node at the same index. */
  readonly #owners: readonly UpstreamServer[];
  /** Each server's node positions, for handing out a point that leads back to it (sticky cookies). */
  readonly #pointsOf = new Map<UpstreamServer, number[]>();

  constructor(servers: readonly UpstreamServer[]) {
    const totalWeight = servers.reduce((sum, server) => sum + effectiveWeight(server), 0);
    const perWeight = Math.min(VIRTUAL_NODES_PER_WEIGHT, MAX_VIRTUAL_NODES / Math.max(totalWeight, 1));
    const nodes: { position: number; order: number; server: UpstreamServer }[] = [];
    for (const [order, server] of servers.entries()) {
      const count = Math.max(1, Math.round(effectiveWeight(server) * perWeight));
      // Positions depend only on the server's own identity, so other servers joining or leaving cannot move them.
      for (let replica = 0; replica < count; replica++) {
        nodes.push({ position: hash32(`${server.url.href}#${replica}`), order, server });
      }
    }
    nodes.sort((a, b) => a.position - b.position || a.order - b.order);
    this.#positions = Uint32Array.from(nodes, (node) => node.position);
    this.#owners = nodes.map((node) => node.server);
    for (const node of nodes) {
      const points = this.#pointsOf.get(node.server);
      if (points === undefined) this.#pointsOf.set(node.server, [node.position]);
      else points.push(node.position);
    }
  }

  /** Owner of the first node at or after `keyHash`, whatever its health: where the key belongs. */
  ownerOf(keyHash: number): UpstreamServer | undefined {
    return this.#owners[this.#firstAtOrAfter(keyHash)];
  }

  /**
   * A point on the ring that `server` owns, chosen at random among its nodes (so that when the server leaves, the
   * clients it held spread over the others); undefined for a server not on the ring.
   */
  pointOf(server: UpstreamServer, random: () => number = Math.random): number | undefined {
    const points = this.#pointsOf.get(server);
    if (points === undefined || points.length === 0) return undefined;
    const start = Math.floor(random() * points.length) % points.length;
    // Two servers' nodes can share a position; such a point may lead to the other server, so skip it.
    for (let step = 0; step < points.length; step++) {
      const point = points[(start + step) % points.length];
      if (point !== undefined && this.ownerOf(point) === server) return point;
    }
    return undefined;
  }

  /** Owner of the first node at or after `keyHash`, walking clockwise past ineligible servers. */
  pick(keyHash: number, exclude: ReadonlySet<UpstreamServer> | undefined): UpstreamServer | undefined {
    const size = this.#owners.length;
    const first = this.#firstAtOrAfter(keyHash);
    for (let step = 0; step < size; step++) {
      const owner = this.#owners[(first + step) % size];
      if (owner !== undefined && isEligible(owner, exclude)) return owner;
    }
    return undefined;
  }

  // Lower bound by binary search; past the last node the ring wraps to index 0.
  #firstAtOrAfter(keyHash: number): number {
    const positions = this.#positions;
    let low = 0;
    let high = positions.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((positions[middle] ?? 0) < keyHash) low = middle + 1;
      else high = middle;
    }
    return low === positions.length ? 0 : low;
  }
}
