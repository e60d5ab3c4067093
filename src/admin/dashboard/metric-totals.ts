// The few counters the dashboard charts, read from the Prometheus text the gateway already serves (in a cluster, the
// workers' sum): one read a second while a page watches, nothing on the relay's path.

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

/** Sums the dashboard's counters out of a Prometheus text exposition. */
export function metricTotals(exposition: string): MetricTotals {
  const totals: MetricTotals = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    handshakes: {},
    closes: {},
    refusals: {},
    refusalReasons: {},
  };
  for (const line of exposition.split("\n")) {
    if (!line.startsWith("wsgate_websocket_")) continue;
    const match = SAMPLE.exec(line);
    if (match === null) continue;
    const value = Number(match[3]);
    if (!Number.isFinite(value)) continue;
    const labels = labelsOf(match[2] ?? "");
    const inbound = labels["direction"] === "client_to_backend";
    switch (match[1]) {
      case "wsgate_websocket_messages_total":
        if (inbound) totals.messagesIn += value;
        else totals.messagesOut += value;
        break;
      case "wsgate_websocket_bytes_total":
        if (inbound) totals.bytesIn += value;
        else totals.bytesOut += value;
        break;
      case "wsgate_websocket_handshakes_total":
        add(totals.handshakes, labels["result"] ?? "unknown", value);
        if (labels["result"] !== "accepted") add(totals.refusals, labels["status"] ?? "unknown", value);
        break;
      case "wsgate_websocket_handshake_refusals_total":
        add(totals.refusalReasons, labels["reason"] ?? "unknown", value);
        break;
      case "wsgate_websocket_closes_total":
        add(totals.closes, labels["code"] ?? "unknown", value);
        break;
    }
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
