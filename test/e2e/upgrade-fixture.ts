// What the upgrade end-to-end tests share (upgrade-*.test.ts; the cluster's upgrade-workers* have their own): the
// numbered-streams config and rig (copied builds, the numbered backend, the gateway, the clients and their cleanup),
// the CLI's upgrade, the loss verdict, connect loops, and reads of /metrics and the status.
import assert from "node:assert/strict";
import net from "node:net";
import { WebSocket } from "ws";
import { admin, runCli, type CliRun } from "../helpers/admin.js";
import { CopiedBuilds, stopPid } from "../helpers/copied-build.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { withTimeout } from "../helpers/net.js";
import {
  NumberedBackend,
  settleAndCount,
  streamFromClients,
  type NumberedClient,
  type ReconnectLoop,
  type StreamVerdict,
} from "../helpers/numbered-streams.js";
import { upgradeFigures, type UpgradeFigures } from "../helpers/upgrade-checks.js";

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- configs ----

/** The rules and pipeline that send /ws… to the numbered backend (a fragment of an HTTPServer and what follows). */
export function numberedRoutes(backendPort: number): { rules: string; pipeline: string } {
  return {
    rules: `rules:
  - paths:
      - pathPrefix: /ws
        backend: numbered`,
    pipeline: `kind: Pipeline
name: numbered
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
`,
  };
}

/** One HTTPServer `edge` on `port` whose /ws… goes to the numbered backend. */
export function numberedConfig(port: number, backendPort: number): string {
  const { rules, pipeline } = numberedRoutes(backendPort);
  return `kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
${rules}
---
${pipeline}`;
}

// ---- the numbered-streams rig ----

/**
 * Copied builds (the first release deployed), a numbered backend, and once started the gateway; the clients, their
 * streaming and the reconnect probes; and `close`, which ends all of it (the process an upgrade started too).
 */
export class UpgradeRig {
  gateway: GatewayProcess | undefined;
  clients: NumberedClient[] = [];
  probes: ReconnectLoop | undefined;
  /** The process serving now; the rig stops it at the end when the test did not start it. */
  servingPid = 0;
  private stopClients: () => void = () => {};

  private constructor(
    readonly builds: CopiedBuilds,
    readonly backend: NumberedBackend,
  ) {}

  /** `releases`: name, version and maybe a CLI script of each build; the first is deployed. */
  static async create(releases: ReadonlyArray<[name: string, version: string, cli?: string]>): Promise<UpgradeRig> {
    const builds = CopiedBuilds.create();
    for (const [name, version, cli] of releases) builds.release(name, version, cli);
    builds.deploy(releases[0]?.[0] ?? "");
    return new UpgradeRig(builds, await NumberedBackend.start());
  }

  /** Runs the deployed build on `yaml` with the admin API; `args` after the CLI's defaults. */
  async start(yaml: string, options: { args?: string[]; servers?: number } = {}): Promise<GatewayProcess> {
    this.gateway = await GatewayProcess.start(yaml, {
      admin: true,
      cli: this.builds.cli,
      args: ["--log-level", "info", ...(options.args ?? [])],
      ...(options.servers !== undefined ? { servers: options.servers } : {}),
    });
    this.servingPid = this.gateway.child.pid ?? 0;
    return this.gateway;
  }

  get adminPort(): number {
    return this.gateway?.adminPort ?? 0;
  }

  /** Every client sends a number every `tickMs`, and the backend to each of them. */
  stream(tickMs: number): void {
    this.stopClients = streamFromClients(this.clients, tickMs);
    this.backend.stream(tickMs);
  }

  /** Stops the probes and the streams, and counts what arrived once every number in flight has landed. */
  async settle(): Promise<StreamVerdict> {
    await this.probes?.stop();
    this.stopClients();
    this.backend.stopStreaming();
    return settleAndCount(this.clients, this.backend);
  }

  async close(): Promise<void> {
    await this.probes?.stop();
    this.stopClients();
    this.backend.stopStreaming();
    for (const client of this.clients) client.ws.terminate();
    // The process an upgrade started and the one the test started (gone already, or draining) stop side by side.
    const started = this.gateway?.child.pid;
    await Promise.all([
      this.servingPid !== 0 && this.servingPid !== started ? stopPid(this.servingPid) : undefined,
      this.gateway?.stop(),
    ]);
    await this.builds.stopAll();
    await this.backend.close();
    this.builds.remove();
  }
}

/** No gap, repeat, missing number or close, both ways (the first closes shown if any). */
export function assertNoLoss(
  verdict: StreamVerdict,
  message = "every number arrived once and in order, both ways",
): void {
  assert.deepEqual(
    { gaps: verdict.gaps, repeats: verdict.repeats, missing: verdict.missing, closes: verdict.closes.slice(0, 5) },
    { gaps: 0, repeats: 0, missing: 0, closes: [] },
    message,
  );
}

// ---- the CLI's upgrade ----

/** `wsgate upgrade -o json` against the admin API on `adminPort`: must succeed; its run and figures. */
export async function upgradeByCli(adminPort: number, ms = 45_000): Promise<{ run: CliRun; figures: UpgradeFigures }> {
  const run = await runCli(["upgrade", "--server", `127.0.0.1:${adminPort}`, "-o", "json"], { ms });
  assert.equal(run.code, 0, `wsgate upgrade failed: ${run.stdout}${run.stderr}`);
  return { run, figures: upgradeFigures(JSON.parse(run.stdout) as Record<string, unknown>) };
}

/** The PID the status of the admin API on `adminPort` names. */
export async function statusPid(adminPort: number): Promise<number> {
  const reply = await admin(adminPort, "GET", "/apis/v2/status/objects");
  assert.equal(reply.status, 200, reply.text);
  return reply.json<{ pid: number }>().pid;
}

// ---- clients ----

/** A plain `ws` client, open; errors after the open are left to the test. */
export function openSession(url: string): Promise<WebSocket> {
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once("open", () => {
        ws.on("error", () => {});
        resolve(ws);
      });
      ws.once("error", reject);
      ws.once("unexpected-response", (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    }),
    5000,
    `a session to ${url} to open`,
  );
}

/** Plain TCP connects to `port` in a loop: each must be accepted (ECONNREFUSED is what an upgrade must never cause). */
export class TcpConnectLoop {
  connected = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(port: number) {
    this.done = this.loop(port);
  }

  private async loop(port: number): Promise<void> {
    for (let round = 0; this.running && round < 100_000; round++) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => {
          this.connected++;
          socket.destroy();
          resolve();
        });
        socket.once("error", (error: NodeJS.ErrnoException) => {
          this.failures.push(error.code ?? error.message);
          resolve();
        });
      });
      await sleep(2);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await withTimeout(this.done, 10_000, "the TCP connect loop to stop");
  }
}

// ---- /metrics ----

/** A counter series from /metrics: its family and labels (sorted) as one key, and its value. */
export type CounterValues = Map<string, number>;

/** Families about the process itself (CPU seconds): a new process starts its own, they are not carried. */
function describesProcess(name: string): boolean {
  return name.startsWith("wsgate_process_") || name.startsWith("wsgate_nodejs_");
}

/** The key of a series in CounterValues. */
export function seriesKey(family: string, labels: Record<string, string>): string {
  const sorted = Object.entries(labels)
    .map(([label, text]) => `${label}=${JSON.stringify(text)}`)
    .sort();
  return `${family}{${sorted.join(",")}}`;
}

/** The counter series of a Prometheus text exposition (the process's own excepted), by `family{labels}`. */
export function counterValues(exposition: string): CounterValues {
  const counters = new Set<string>();
  const values: CounterValues = new Map();
  for (const line of exposition.split("\n")) {
    const type = /^# TYPE (\S+) counter$/.exec(line);
    if (type?.[1] !== undefined) {
      counters.add(type[1]);
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample === null) continue;
    const [, name = "", labelText = "", value = ""] = sample;
    if (!counters.has(name) || describesProcess(name)) continue;
    const labels = [...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, label = "", text = ""]) => [
      label,
      text,
    ]);
    values.set(seriesKey(name, Object.fromEntries(labels)), Number(value));
  }
  return values;
}

/**
 * The counters the admin API serves now. Sent twice at most: the kept-alive connection a previous call used may be
 * one the process that let go of the admin listener has just closed.
 */
export async function readCounters(adminPort: number): Promise<CounterValues> {
  const read = (): Promise<string> =>
    admin(adminPort, "GET", "/metrics").then((reply) => {
      if (reply.status !== 200) throw new Error(`/metrics answered ${reply.status}`);
      return reply.text;
    });
  return counterValues(await read().catch(read));
}

/**
 * The counters once `settled` holds of them, read again every 50 ms for `ms` at most; the last read if it never does.
 * A client's close resolves when its socket ends, which can be a tick before the gateway counts that close.
 */
export async function readCountersWhen(
  adminPort: number,
  settled: (values: CounterValues) => boolean,
  ms = 5_000,
): Promise<CounterValues> {
  const until = Date.now() + ms;
  let values = await readCounters(adminPort);
  while (!settled(values) && Date.now() < until) {
    await sleep(50);
    values = await readCounters(adminPort);
  }
  return values;
}

/** The series whose value went back from `before` to `after` (missing counts as 0), as "key: before → after". */
export function wentBack(before: CounterValues, after: CounterValues): string[] {
  const back: string[] = [];
  for (const [key, value] of before) {
    const now = after.get(key) ?? 0;
    if (now < value) back.push(`${key}: ${value} → ${now}`);
  }
  return back;
}
