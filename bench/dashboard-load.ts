/**
 * `--dashboard` (issue 19): what an open dashboard costs the relay. wsgate-aware-dashboard is wsgate-aware with its
 * admin listener on and one dashboard stream (`GET /apis/v2/dashboard/stream`, what a page holds open) read from
 * the moment it starts until it stops. It runs paired with wsgate-aware (admin listener off: the stream's sampler
 * runs only while a page subscribes, so "closed" and "off" do the same per-frame work) in every round, the pair's
 * order swapping in even rounds, and the report gives page open ÷ closed per scenario with its per-round spread.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import { MIN_VERDICT_ROUNDS, ratioCell, type BaselineComparison, type BaselineMetric } from "./baseline.js";
import type { Measurement } from "./summary.js";
import { DASHBOARD_TARGET, type TargetName } from "./targets.js";

export const DASHBOARD_PAIR = { after: DASHBOARD_TARGET, before: "wsgate-aware" } as const;
export const DASHBOARD_STREAM_PATH = "/apis/v2/dashboard/stream";
/** One token per bench run, handed to the proxy in its environment (WSGATE_ADMIN_TOKEN), never on a command line. */
export const BENCH_ADMIN_TOKEN = randomBytes(24).toString("base64url");

/** `targets` with wsgate-aware-dashboard right after wsgate-aware (when wsgate-aware is there). */
export function withDashboardTarget(targets: readonly TargetName[]): TargetName[] {
  return targets.flatMap((target) => (target === "wsgate-aware" ? [target, DASHBOARD_TARGET] : [target]));
}

/** What a stream saw: events by name, bytes, and how it ended (or "open"). */
export interface DashboardStreamStats {
  events: Record<string, number>;
  bytes: number;
  status: number | undefined;
  ended: string;
}

/**
 * Opens a stream once the admin listener accepts (it may open a moment after the proxy's own port): retries a
 * refused connection for up to `ms`, then returns the stream at its first event, or as it failed.
 */
export async function openDashboardStream(
  port: number,
  ms: number,
  token = BENCH_ADMIN_TOKEN,
): Promise<DashboardStream> {
  const deadline = Date.now() + ms;
  for (;;) {
    const stream = new DashboardStream(port, token);
    await stream.ready(Math.max(0, deadline - Date.now()));
    if (!stream.stats.ended.includes("ECONNREFUSED") || Date.now() >= deadline) return stream;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One dashboard stream held open, as a page would: it reads every event and counts them. */
export class DashboardStream {
  readonly stats: DashboardStreamStats = { events: {}, bytes: 0, status: undefined, ended: "open" };
  private readonly request: http.ClientRequest;
  private pending = "";

  constructor(port: number, token = BENCH_ADMIN_TOKEN) {
    this.request = http.get({
      host: "127.0.0.1",
      port,
      path: DASHBOARD_STREAM_PATH,
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
    });
    this.request.on("response", (response) => {
      this.stats.status = response.statusCode;
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => this.onText(chunk));
      response.on("end", () => this.end("ended by the gateway"));
      response.on("error", (error: Error) => this.end(`error ${error.message}`));
    });
    this.request.on("error", (error: Error) => this.end(`error ${error.message}`));
  }

  /** Resolves at the first event (the stream's `history`), when it ends, or after `ms`. */
  ready(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const started = Date.now();
      const poll = (): void => {
        if (this.eventCount > 0 || this.stats.ended !== "open" || Date.now() - started > ms) resolve();
        else setTimeout(poll, 20);
      };
      poll();
    });
  }

  /** Events seen so far, all kinds. */
  get eventCount(): number {
    return Object.values(this.stats.events).reduce((sum, count) => sum + count, 0);
  }

  close(): void {
    this.end("closed by the bench");
    this.request.destroy();
  }

  private end(why: string): void {
    if (this.stats.ended === "open") this.stats.ended = why;
  }

  private onText(chunk: string): void {
    this.stats.bytes += Buffer.byteLength(chunk);
    this.pending += chunk;
    for (;;) {
      const end = this.pending.indexOf("\n\n");
      if (end < 0) break;
      countEvent(this.stats.events, this.pending.slice(0, end));
      this.pending = this.pending.slice(end + 2);
    }
    // A page reads whole events; anything this long without an event's end is not a dashboard stream.
    if (this.pending.length > 4 << 20) this.close();
  }
}

/** Counts one server-sent event by its `event:` name ("message" when it has none). */
export function countEvent(events: Record<string, number>, block: string): void {
  const name = /^event: ?(.*)$/m.exec(block)?.[1]?.trim() || "message";
  events[name] = (events[name] ?? 0) + 1;
}

/** The report's section: per scenario, wsgate-aware with a dashboard stream open ÷ without, and what the stream got. */
export function dashboardSection(
  comparisons: readonly BaselineComparison[],
  measurements: readonly Measurement[],
): string {
  const names: BaselineMetric["name"][] = ["throughput", "proxy CPU µs/op", "p50", "p99", "idle RSS KiB/conn"];
  const rows: string[] = [];
  for (const scenario of [...new Set(comparisons.map((c) => c.scenario))]) {
    const cells = names.map((name) => ratioCell(comparisons.find((c) => c.scenario === scenario && c.metric === name)));
    rows.push(`| ${scenario} | ${cells.join(" | ")} |`);
  }
  const streams = measurements.filter((m) => m.target === DASHBOARD_TARGET && m.dashboard !== undefined);
  const samples = streams.map((m) => m.dashboard?.events["sample"] ?? 0);
  const broken = streams.filter((m) => m.dashboard?.status !== 200 || m.dashboard.ended !== "open").length;
  const rounds = Math.max(0, ...comparisons.map((c) => c.perRound.length));
  return [
    "## Dashboard open ÷ closed (--dashboard)",
    "",
    `${DASHBOARD_TARGET} is wsgate-aware with its admin listener on and one dashboard stream (\`GET ${DASHBOARD_STREAM_PATH}\`, what an open page holds) read from its start to its stop; wsgate-aware (no admin listener: with no page subscribed the dashboard samples nothing) is the page closed. The two run one after the other in every round, their order swapping in even rounds. Each cell is open ÷ closed: the median of the per-round ratios and their spread (min–max). Throughput: higher is better; CPU, latency and RSS: lower is better. **worse** marks a figure worse in every round (${MIN_VERDICT_ROUNDS} rounds or more).`,
    "",
    rows.length === 0
      ? "Nothing to compare: no scenario measured both."
      : [`| scenario | ${names.join(" | ")} |`, `|${" --- |".repeat(names.length + 1)}`, ...rows].join("\n"),
    "",
    streams.length === 0
      ? "The dashboard stream was not measured."
      : `The stream was open in ${streams.length - broken} of ${streams.length} measurements${broken > 0 ? ` (${broken} with a broken stream: see Failures)` : ""}; by each measurement's end it had delivered ${Math.min(...samples)}–${Math.max(...samples)} \`sample\` events (one a second from its start).`,
    rounds > 0 && rounds < MIN_VERDICT_ROUNDS ? `${rounds} round(s): no verdict beyond the noise.` : "",
    "",
  ].join("\n");
}
