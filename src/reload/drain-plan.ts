// Which live sessions a new config ends, and over how long: sessions whose route is gone (deleted server, pipeline or
// path rule, or a route that now leads elsewhere) over their filter's drainWindow; sessions on a server removed from
// a pool that says `drainRemovedServers`, over that. Everything else runs on, on the filters it started with.
import type { HTTPServerSpec } from "../server/spec.js";
import type { PipelineSpec } from "../pipeline/spec.js";
import type { LiveSession } from "../observability/sessions.js";
import { routeIdentities } from "../server/route-identity.js";

export interface DrainOrder {
  session: LiveSession;
  /** The close reason the client gets with `code`. */
  reason: string;
  /** 1001, or the pool's `backendCloseCodes.drained` for a removed server. */
  code: number;
  /** The window the closes of this reason and length are spread over, in ms. */
  overMs: number;
}

export const ROUTE_REMOVED = "route removed";
export const PIPELINE_REMOVED = "pipeline removed";
export const SERVER_REMOVED = "server removed";
export const BACKEND_REMOVED = "backend removed";

/** Every route key of `servers`: the routes that new sessions can come in by. */
export function routeKeysOf(servers: readonly HTTPServerSpec[]): Set<string> {
  return new Set(
    servers.flatMap((server) =>
      routeIdentities(server.name, server.rules)
        .flat()
        .map(({ key }) => key),
    ),
  );
}

/** Sessions whose route `servers` no longer has. */
export function routeDrains(
  sessions: readonly LiveSession[],
  servers: readonly HTTPServerSpec[],
  pipelines: readonly PipelineSpec[],
): DrainOrder[] {
  const routes = routeKeysOf(servers);
  const serverNames = new Set(servers.map((server) => server.name));
  const pipelineNames = new Set(pipelines.map((pipeline) => pipeline.name));
  const orders: DrainOrder[] = [];
  for (const session of sessions) {
    if (routes.has(session.origin.routeKey)) continue;
    const reason = !pipelineNames.has(session.pipeline)
      ? PIPELINE_REMOVED
      : !serverNames.has(session.server)
        ? SERVER_REMOVED
        : ROUTE_REMOVED;
    orders.push({ session, reason, code: 1001, overMs: session.origin.drainWindow });
  }
  return orders;
}

/** Sessions on a server that the same pool of the new spec no longer has, where that pool says to drain them. */
export function removedServerDrains(
  sessions: readonly LiveSession[],
  pipelines: readonly PipelineSpec[],
): DrainOrder[] {
  const byName = new Map(pipelines.map((pipeline) => [pipeline.name, pipeline]));
  const orders: DrainOrder[] = [];
  for (const session of sessions) {
    const { filter: filterName, poolIndex, backendUrl } = session.origin;
    const filter = byName.get(session.pipeline)?.filters.find((candidate) => candidate.name === filterName);
    if (filter?.kind !== "WebSocketProxy") continue;
    const pool = filter.pools[poolIndex];
    if (pool?.drainRemovedServers === undefined) continue;
    const kept = pool.servers.filter(
      (server) => pool.serverTags.length === 0 || server.tags.some((tag) => pool.serverTags.includes(tag)),
    );
    if (kept.some((server) => sameUrl(server.url, backendUrl))) continue;
    orders.push({
      session,
      reason: BACKEND_REMOVED,
      code: pool.backendCloseCodes?.drained ?? 1001,
      overMs: pool.drainRemovedServers,
    });
  }
  return orders;
}

function sameUrl(text: string, href: string): boolean {
  try {
    return new URL(text).href === href;
  } catch {
    return false;
  }
}
