// What the `wsgate upgrade --workers` end-to-end tests share: the config, the crash hook, reads of the gateway,
// and a TCP connect loop that counts refusals.
import assert from "node:assert/strict";
import net from "node:net";
import { admin } from "../helpers/admin.js";
import type { GatewayProcess } from "../helpers/gateway-process.js";
import { withTimeout } from "../helpers/net.js";
import type { settleAndCount } from "../helpers/numbered-streams.js";

export const SESSIONS = 100;
export const TICK_MS = 200;
export const WORKERS = 2;

/**
 * Loaded with `--require` by every process: a new primary throws on start while the `crash` file exists; while
 * `die-on-session` exists, it kills itself when the first relayed session reaches it.
 */
export const CRASH_HOOK = `
const { existsSync } = require("node:fs");
const { join } = require("node:path");
if (process.env.WSGATE_UPGRADE_FROM !== undefined && existsSync(join(__dirname, "crash"))) {
  throw new Error("simulated crash of a new build");
}
if (process.env.WSGATE_UPGRADE_FROM !== undefined && existsSync(join(__dirname, "die-on-session"))) {
  process.on("message", (message) => {
    if (message !== null && typeof message === "object" && "wsgateRelay" in message) process.kill(process.pid, "SIGKILL");
  });
}
`;

export function config(port: number, backendPort: number): string {
  return `kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /ws
        backend: numbered
---
kind: Pipeline
name: numbered
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
`;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The worker PIDs the log names so far ("worker started"). */
export function workerPids(gateway: GatewayProcess): number[] {
  return gateway.logs.filter((line) => line.msg === "worker started").map((line) => Number(line["pid"]));
}

export async function statusPid(adminPort: number): Promise<number> {
  const reply = await admin(adminPort, "GET", "/apis/v2/status/objects").catch(() =>
    admin(adminPort, "GET", "/apis/v2/status/objects"),
  );
  assert.equal(reply.status, 200, reply.text);
  return reply.json<{ pid: number }>().pid;
}

/** Plain TCP connects in a loop: each must be accepted (ECONNREFUSED is what an upgrade must never cause). */
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

export function verdictOf(verdict: Awaited<ReturnType<typeof settleAndCount>>): object {
  return {
    gaps: verdict.gaps,
    repeats: verdict.repeats,
    missing: verdict.missing,
    closes: verdict.closes.slice(0, 5),
    unknown: verdict.unknown.length,
  };
}
export const CLEAN = { gaps: 0, repeats: 0, missing: 0, closes: [], unknown: 0 };
