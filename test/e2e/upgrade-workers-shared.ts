// What the `wsgate upgrade --workers` end-to-end tests share: the config, the crash hook and reads of the gateway
// (the TCP connect loop and the numbered config come from upgrade-fixture.ts).
import assert from "node:assert/strict";
import { admin } from "../helpers/admin.js";
import type { GatewayProcess } from "../helpers/gateway-process.js";
import type { settleAndCount } from "../helpers/numbered-streams.js";
import { numberedConfig } from "./upgrade-fixture.js";

export { TcpConnectLoop, sleep } from "./upgrade-fixture.js";
export const config = numberedConfig;

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

/** The worker PIDs the log names so far ("worker started"). */
export function workerPids(gateway: GatewayProcess): number[] {
  return gateway.logs.filter((line) => line.msg === "worker started").map((line) => Number(line["pid"]));
}

/** The PID the admin API names, asked again once across the admin listener's switch to a new primary. */
export async function statusPid(adminPort: number): Promise<number> {
  const reply = await admin(adminPort, "GET", "/apis/v2/status/objects").catch(() =>
    admin(adminPort, "GET", "/apis/v2/status/objects"),
  );
  assert.equal(reply.status, 200, reply.text);
  return reply.json<{ pid: number }>().pid;
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
