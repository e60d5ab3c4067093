// The dashboard's cheap reads (GatewayControl.sessionSummary and chartTotals), for one gateway and for a cluster's
// workers: counts without a view per session, and the charted counters' values without the whole exposition.
import type { Registry } from "prom-client";
import type { LiveSession } from "../observability/sessions.js";
import type { ChartTotals, CounterSeries, SessionSummary } from "./control.js";
import { sessionView } from "./session-view.js";

/** Counts `sessions` per server, route and backend, and views the first `rows` of them. */
export function summarizeSessions(
  sessions: Iterable<LiveSession>,
  rows: number,
  now: number,
  worker?: number,
): SessionSummary {
  // Nested by server so that no "<server> <route>" string is made per session, only per distinct route.
  const perServer = new Map<string, Map<string, number>>();
  const backends = new Map<string, number>();
  const first = [];
  for (const session of sessions) {
    if (first.length < rows) first.push(sessionView(session, now, worker));
    let routes = perServer.get(session.server);
    if (routes === undefined) perServer.set(session.server, (routes = new Map()));
    routes.set(session.route, (routes.get(session.route) ?? 0) + 1);
    backends.set(session.backend, (backends.get(session.backend) ?? 0) + 1);
  }
  const counts: SessionSummary["counts"] = { servers: {}, routes: {}, backends: Object.fromEntries(backends) };
  let count = 0;
  for (const [server, routes] of perServer) {
    let onServer = 0;
    for (const [route, n] of routes) {
      counts.routes[`${server} ${route}`] = n;
      onServer += n;
    }
    counts.servers[server] = onServer;
    count += onServer;
  }
  return { count, counts, first };
}

function addCounts(into: Record<string, number>, more: Record<string, number>): void {
  for (const [key, n] of Object.entries(more)) into[key] = (into[key] ?? 0) + n;
}

/** Several workers' summaries as one: counts added, rows in worker order (as `sessions()` lists them), `rows` kept. */
export function mergeSessionSummaries(summaries: readonly SessionSummary[], rows: number): SessionSummary {
  const merged: SessionSummary = { count: 0, counts: { servers: {}, routes: {}, backends: {} }, first: [] };
  for (const summary of summaries) {
    merged.count += summary.count;
    addCounts(merged.counts.servers, summary.counts.servers);
    addCounts(merged.counts.routes, summary.counts.routes);
    addCounts(merged.counts.backends, summary.counts.backends);
    for (const view of summary.first) if (merged.first.length < rows) merged.first.push(view);
  }
  return merged;
}

/** The named counters' series out of `registry` (each on its own, not the whole exposition), with the relayed sums. */
export async function readChartTotals(
  registry: Registry,
  relayed: ChartTotals["relayed"],
  names: readonly string[],
): Promise<ChartTotals> {
  const counters: CounterSeries[] = [];
  for (const name of names) {
    const metric = registry.getSingleMetric(name);
    if (metric !== undefined) counters.push({ name, values: (await metric.get()).values });
  }
  return { relayed, counters };
}

/** Several workers' totals as one: relayed sums added, counter series side by side (the reader adds samples up). */
export function mergeChartTotals(totals: readonly ChartTotals[]): ChartTotals {
  const merged: ChartTotals = {
    relayed: { fromClient: { messages: 0, bytes: 0 }, fromBackend: { messages: 0, bytes: 0 } },
    counters: [],
  };
  for (const { relayed, counters } of totals) {
    merged.relayed.fromClient.messages += relayed.fromClient.messages;
    merged.relayed.fromClient.bytes += relayed.fromClient.bytes;
    merged.relayed.fromBackend.messages += relayed.fromBackend.messages;
    merged.relayed.fromBackend.bytes += relayed.fromBackend.bytes;
    merged.counters.push(...counters);
  }
  return merged;
}
