import type { ListenerView, StatusView } from "../control/control.js";
import type { PoolStatus } from "../upstream/status.js";

/**
 * Each worker has its own copy of every pool (same label, same servers): the merged pool counts every worker's
 * connections; health and state come from the first worker that reports the pool (each runs its own checks).
 */
export function mergePools(pools: readonly PoolStatus[]): PoolStatus[] {
  const byLabel = new Map<string, PoolStatus>();
  for (const pool of pools) {
    const merged = byLabel.get(pool.pool);
    if (merged === undefined) {
      byLabel.set(pool.pool, { ...pool, servers: pool.servers.map((server) => ({ ...server })) });
      continue;
    }
    merged.available ||= pool.available;
    for (const server of pool.servers) {
      const same = merged.servers.find((candidate) => candidate.url === server.url);
      if (same === undefined) merged.servers.push({ ...server });
      else same.activeConnections += server.activeConnections;
    }
  }
  return [...byLabel.values()];
}

function sameListener(a: ListenerView, b: ListenerView): boolean {
  return a.server === b.server && a.address === b.address && a.port === b.port;
}

/** One status for the whole gateway out of the workers' own. */
export function mergeStatus(views: readonly StatusView[]): StatusView {
  const listeners: ListenerView[] = [];
  for (const listener of views.flatMap((view) => view.listeners)) {
    if (!listeners.some((seen) => sameListener(seen, listener))) listeners.push(listener);
  }
  const lastApplyError = views.find((view) => view.lastApplyError !== undefined)?.lastApplyError;
  return {
    listeners,
    pools: mergePools(views.flatMap((view) => view.pools)),
    sessions: views.reduce((sum, view) => sum + view.sessions, 0),
    ...(lastApplyError === undefined ? {} : { lastApplyError }),
  };
}
