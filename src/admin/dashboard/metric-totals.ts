// The few counters the dashboard charts: read from the telemetry's values where the control offers them (one
// gateway), else from the Prometheus text the gateway already serves (in a cluster, the workers' sum). One read a
// second while a page watches, nothing on the relay's path.
import type { ChartTotals } from "../../control/control.js";

/** Cumulative totals at one instant. */
export interface MetricTotals {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** By result: accepted, rejected (4xx), failed (5xx). */
  handshakes: Record<string, number>;
  /** By close code. */
  closes: Record<string, number>;
  /** Handshakes not accepted, by HTTP status. */
  refusals: Record<string, number>;
  /** Handshakes not accepted, by the error table's reason (route_not_found, no_upstream...). */
  refusalReasons: Record<string, number>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function labelsOf(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of text.matchAll(LABEL)) labels[match[1] ?? ""] = match[2] ?? "";
  return labels;
}

function add(into: Record<string, number>, key: string, value: number): void {
  into[key] = (into[key] ?? 0) + value;
}

function emptyTotals(): MetricTotals {
  return {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    handshakes: {},
    closes: {},
    refusals: {},
    refusalReasons: {},
  };
}

type Labels = Record<string, string | number | undefined>;

/** Adds one sample of a charted counter; samples of other metrics are ignored. */
function addSample(totals: MetricTotals, name: string, labels: Labels, value: number): void {
  const inbound = labels["direction"] === "client_to_backend";
  switch (name) {
    case "wsgate_websocket_messages_total":
      if (inbound) totals.messagesIn += value;
      else totals.messagesOut += value;
      break;
    case "wsgate_websocket_bytes_total":
      if (inbound) totals.bytesIn += value;
      else totals.bytesOut += value;
      break;
    case "wsgate_websocket_handshakes_total":
      add(totals.handshakes, String(labels["result"] ?? "unknown"), value);
      if (labels["result"] !== "accepted") add(totals.refusals, String(labels["status"] ?? "unknown"), value);
      break;
    case "wsgate_websocket_handshake_refusals_total":
      add(totals.refusalReasons, String(labels["reason"] ?? "unknown"), value);
      break;
    case "wsgate_websocket_closes_total":
      add(totals.closes, String(labels["code"] ?? "unknown"), value);
      break;
  }
}

/** Sums the dashboard's counters out of a Prometheus text exposition (a cluster's: the workers' sum). */
export function metricTotals(exposition: string): MetricTotals {
  const totals = emptyTotals();
  for (const line of exposition.split("\n")) {
    if (!line.startsWith("wsgate_websocket_")) continue;
    const match = SAMPLE.exec(line);
    if (match === null) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    addSample(totals, match[1] ?? "", labelsOf(match[2] ?? ""), value);
  }
  return totals;
}

/** The counters `chartTotals` reads one by one; messages and bytes come as the relayed sums. */
export const CHARTED_COUNTERS = [
  "wsgate_websocket_handshakes_total",
  "wsgate_websocket_handshake_refusals_total",
  "wsgate_websocket_closes_total",
] as const;

/** The same totals from the telemetry's own values (ChartTotals), without text in between. */
export function chartMetricTotals(read: ChartTotals): MetricTotals {
  const totals = emptyTotals();
  totals.messagesIn = read.relayed.fromClient.messages;
  totals.messagesOut = read.relayed.fromBackend.messages;
  totals.bytesIn = read.relayed.fromClient.bytes;
  totals.bytesOut = read.relayed.fromBackend.bytes;
  for (const { name, values } of read.counters) {
    for (const { labels, value } of values) if (Number.isFinite(value)) addSample(totals, name, labels, value);
  }
  return totals;
}

/** Per second between two totals `seconds` apart; a counter that went down (a worker restarted) counts from 0. */
export interface MetricRates {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  handshakes: Record<string, number>;
  closes: Record<string, number>;
  refusals: Record<string, number>;
  refusalReasons: Record<string, number>;
}

function rate(now: number, before: number, seconds: number): number {
  const delta = now >= before ? now - before : now;
  return Math.round((delta / seconds) * 100) / 100;
}

function rates(now: Record<string, number>, before: Record<string, number>, seconds: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(now)) {
    const per = rate(value, before[key] ?? 0, seconds);
    if (per > 0) out[key] = per;
  }
  return out;
}

export function metricRates(now: MetricTotals, before: MetricTotals, seconds: number): MetricRates {
  return {
    messagesIn: rate(now.messagesIn, before.messagesIn, seconds),
    messagesOut: rate(now.messagesOut, before.messagesOut, seconds),
    bytesIn: rate(now.bytesIn, before.bytesIn, seconds),
    bytesOut: rate(now.bytesOut, before.bytesOut, seconds),
    handshakes: rates(now.handshakes, before.handshakes, seconds),
    closes: rates(now.closes, before.closes, seconds),
    refusals: rates(now.refusals, before.refusals, seconds),
    refusalReasons: rates(now.refusalReasons, before.refusalReasons, seconds),
  };
}
