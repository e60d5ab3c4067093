/**
 * The `basic-auth-flood` scenario (wsgate only, asked for by name): a public route's handshake latency, unloaded and
 * while 8 clients flood a basic-auth route with wrong passwords (bcrypt cost 10, as `htpasswd -B` writes). bcrypt
 * on the event loop made the public route's p99 go from 0.85 ms to 776 ms; the target is at most 2x.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import bcrypt from "bcryptjs";
import { WebSocket } from "ws";
import { freePort } from "../test/helpers/net.js";
import { sleep, stopChild, within } from "./proxy-process.js";
import { wsgateCommand } from "./targets.js";

export const FLOOD_CLIENTS = 8;
/** The public route's p99 under the flood over its unloaded p99: the issue's target. */
export const FLOOD_TARGET_RATIO = 2;

export interface FloodOptions {
  backendPort: number;
  tmpRoot: string;
  /** taskset prefix for wsgate, [] when not pinned. */
  prefix: readonly string[];
  durationMs: number;
  warmupMs: number;
  rounds: number;
  track: (child: ChildProcess) => void;
}

export interface FloodRound {
  round: number;
  unloaded: { p50Ms: number; p99Ms: number; samples: number };
  flooded: { p50Ms: number; p99Ms: number; samples: number };
  /** Flooded p99 over unloaded p99. */
  ratio: number;
  /** Answers the flood got per second, by status. */
  floodPerSecond: Record<string, number>;
}

function config(port: number, backendPort: number, users: string): string {
  const pipeline = (name: string, auth: boolean): string => `
---
kind: Pipeline
name: ${name}
flow:${auth ? "\n  - filter: auth" : ""}
  - filter: wsproxy
filters:${
    auth
      ? `
  - kind: Validator
    name: auth
    basicAuth:
      mode: FILE
      userFile: ${users}`
      : ""
  }
  - kind: WebSocketProxy
    name: wsproxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}`;
  return `kind: HTTPServer
name: flood-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - path: /public
        backend: public
      - path: /auth
        backend: auth
${pipeline("public", false)}${pipeline("auth", true)}
`;
}

/** One handshake: resolves with the status (101, or the refusal's) once answered. */
function handshake(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: 10_000 });
    ws.on("open", () => {
      ws.terminate();
      resolve(101);
    });
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      ws.terminate();
      resolve(res.statusCode ?? 0);
    });
    ws.on("error", () => resolve(0));
  });
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

/** Sequential handshakes on the public route for `ms`: their latencies' p50 and p99. */
async function probe(url: string, ms: number): Promise<FloodRound["unloaded"]> {
  const latencies: number[] = [];
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const started = performance.now();
    const status = await handshake(url);
    if (status !== 101) throw new Error(`the public route answered ${status}`);
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  return { p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), samples: latencies.length };
}

async function startWsgate(options: FloodOptions, dir: string): Promise<{ child: ChildProcess; port: number }> {
  const users = join(dir, "users.htpasswd");
  writeFileSync(users, `alice:${bcrypt.hashSync("alice-pass", 10)}\n`);
  const port = await freePort();
  const file = join(dir, "wsgate.yaml");
  writeFileSync(file, config(port, options.backendPort, users));
  const [program, ...args] = [...options.prefix, ...wsgateCommand(file)] as [string, ...string[]];
  const child = spawn(program, args, { stdio: ["ignore", "ignore", "inherit"], cwd: dir });
  options.track(child);
  const deadline = performance.now() + 15_000;
  while ((await handshake(`ws://127.0.0.1:${port}/public`)) !== 101) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error("wsgate exited before listening");
    if (performance.now() > deadline) throw new Error("wsgate did not serve within 15 s");
    await sleep(50);
  }
  return { child, port };
}

export async function measureBasicAuthFlood(options: FloodOptions): Promise<FloodRound[]> {
  const rounds: FloodRound[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const dir = mkdtempSync(join(options.tmpRoot, "basic-auth-flood-"));
    const { child, port } = await startWsgate(options, dir);
    try {
      const publicUrl = `ws://127.0.0.1:${port}/public`;
      await probe(publicUrl, options.warmupMs);
      const unloaded = await probe(publicUrl, options.durationMs);
      let flooding = true;
      const statuses: Record<string, number> = {};
      const flooder = async (client: number): Promise<void> => {
        for (let i = 0; flooding; i++) {
          const authorization = `Basic ${Buffer.from(`alice:guess-${client}-${i}`).toString("base64")}`;
          const status = await handshake(`ws://127.0.0.1:${port}/auth`, { Authorization: authorization });
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      };
      const flood = Promise.all(Array.from({ length: FLOOD_CLIENTS }, (_, client) => flooder(client)));
      // Let the flood fill the queue before measuring.
      await sleep(Math.max(300, options.warmupMs));
      const floodStarted = performance.now();
      const before = { ...statuses };
      const flooded = await probe(publicUrl, options.durationMs);
      const floodMs = performance.now() - floodStarted;
      flooding = false;
      await within(flood, 15_000);
      const floodPerSecond = Object.fromEntries(
        Object.entries(statuses).map(([status, count]) => [status, ((count - (before[status] ?? 0)) / floodMs) * 1000]),
      );
      rounds.push({ round, unloaded, flooded, ratio: flooded.p99Ms / unloaded.p99Ms, floodPerSecond });
    } finally {
      await stopChild(child, 12_000);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rounds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** The scenario's table in Markdown, one line per round and the median ratio against the target. */
export function floodReport(rounds: readonly FloodRound[], pinned: boolean): string {
  const ms = (value: number): string => value.toFixed(2);
  const lines = [
    "## basic-auth-flood (wsgate)",
    "",
    `A public route's WebSocket handshake latency, unloaded and while ${FLOOD_CLIENTS} clients send wrong basic-auth passwords (bcrypt cost 10) to another route; ${pinned ? "wsgate pinned to one core (its bcrypt worker thread included)" : "not pinned"}.`,
    "",
    "| round | unloaded p50 | unloaded p99 | flooded p50 | flooded p99 | p99 ratio | flood answers/s |",
    "|---|---|---|---|---|---|---|",
    ...rounds.map((r) => {
      const flood = Object.entries(r.floodPerSecond)
        .map(([status, rate]) => `${status}: ${rate.toFixed(1)}`)
        .join(", ");
      return `| ${r.round} | ${ms(r.unloaded.p50Ms)} ms | ${ms(r.unloaded.p99Ms)} ms | ${ms(r.flooded.p50Ms)} ms | ${ms(r.flooded.p99Ms)} ms | ${r.ratio.toFixed(2)}x | ${flood} |`;
    }),
    "",
  ];
  const ratio = median(rounds.map((r) => r.ratio));
  lines.push(
    `Median p99 ratio ${ratio.toFixed(2)}x (target ≤ ${FLOOD_TARGET_RATIO}x): ${ratio <= FLOOD_TARGET_RATIO ? "met" : "NOT met"}.`,
  );
  return lines.join("\n");
}
