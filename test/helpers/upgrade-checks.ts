// Reads of a running gateway for the upgrade tests: which process answers, which sessions it serves, and what an
// upgrade reported.
import { admin, type AdminReply } from "./admin.js";
import type { LogLine } from "./gateway-process.js";

export interface ServingProcess {
  pid: number;
  version: string;
}

/**
 * A GET to the admin API across an upgrade: the kept-alive connection the last call used may belong to the process
 * that has just let go of the admin listener and closed its idle connections. A request racing that close fails as
 * on any HTTP/1.1 server closing an idle connection; it is sent again once, on a fresh connection.
 */
async function adminGet(port: number, path: string): Promise<AdminReply> {
  try {
    return await admin(port, "GET", path);
  } catch {
    return admin(port, "GET", path);
  }
}

/** The process behind the admin API now: status `pid`, and the version of wsgate_build_info. */
export async function servingProcess(adminPort: number): Promise<ServingProcess> {
  const reply = await adminGet(adminPort, "/apis/v2/status/objects");
  if (reply.status !== 200) throw new Error(`status answered ${reply.status}: ${reply.text}`);
  const metrics = await adminGet(adminPort, "/metrics");
  const version = /^wsgate_build_info\{[^}]*version="([^"]*)"/m.exec(metrics.text)?.[1];
  return { pid: Number(reply.json<{ pid?: unknown }>().pid), version: version ?? "none in /metrics" };
}

export interface ListedSession {
  id: string;
  client: string;
  clientMessages: number;
  backendMessages: number;
  /** When the session will be closed (ms since epoch), when something ends it. */
  deadline?: number;
}

/** The sessions the process behind the admin API serves, by client address (`127.0.0.1:<port>`). */
export async function sessionsByClient(adminPort: number): Promise<Map<string, ListedSession>> {
  const reply = await adminGet(adminPort, "/apis/v2/sessions");
  if (reply.status !== 200) throw new Error(`sessions answered ${reply.status}: ${reply.text}`);
  return new Map(reply.json<ListedSession[]>().map((session) => [session.client, session]));
}

/** What an upgrade reports: from the admin API's answer or the old process's log line. */
export interface UpgradeFigures {
  oldPid: number;
  newPid: number;
  moved: number;
  kept: number;
  closed: number;
}

function figure(source: Record<string, unknown>, name: string): number {
  const value = source[name];
  return typeof value === "number" ? value : Number.NaN;
}

export function upgradeFigures(source: Record<string, unknown>): UpgradeFigures {
  return {
    oldPid: figure(source, "oldPid"),
    newPid: figure(source, "newPid"),
    moved: figure(source, "moved"),
    kept: figure(source, "kept"),
    closed: figure(source, "closed"),
  };
}

/** The old process's one line per upgrade (event "upgrade"): the line that carries the figures. */
export function isUpgradeLine(line: LogLine): boolean {
  return line["event"] === "upgrade" && typeof line["moved"] === "number";
}
