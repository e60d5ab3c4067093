import { endpointText } from "../util/net/ip-address.js";
import { stringify } from "yaml";
import type { ConfigError } from "../config/errors.js";
import { formatConfigError } from "../config/errors.js";
import { objectKindNames } from "../config/object-kinds.js";
import type { ListenerView, SessionView } from "../control/control.js";
import type { DrainedServer, PoolStatus } from "../upstream/status.js";
import type { ClusterSessionsBody } from "../admin/cluster-api.js";
import { formatMembers } from "../admin/members.js";
import type { ObjectListItem } from "../admin/objects-api.js";
import type { MemberInfo } from "../control/membership.js";
import type { UpgradeOutcome } from "../control/upgrade-protocol.js";
import { AdminRequestError, type AdminClient } from "./admin-client.js";
import { readFileObjects, type FileObject } from "./apply-file.js";
import { UsageError } from "./parse.js";
import { formatAge, formatTraffic, renderTable } from "../util/table.js";

export type OutputFormat = "table" | "json" | "yaml";

/** What a verb needs: the client, its arguments, the output format, and where to write. */
export interface VerbContext {
  client: AdminClient;
  args: readonly string[];
  output: OutputFormat;
  out: (text: string) => void;
  err: (text: string) => void;
}

interface GatewayStatusBody {
  listeners: ListenerView[];
  pools: PoolStatus[];
  sessions: SessionView[];
  lastApplyError?: string;
}

function structured(context: VerbContext, value: unknown): boolean {
  if (context.output === "json") context.out(`${JSON.stringify(value, null, 2)}\n`);
  else if (context.output === "yaml") context.out(stringify(value));
  else return false;
  return true;
}

function needName(context: VerbContext, verb: string): string {
  const [name] = context.args;
  if (name === undefined) throw new UsageError(`wsgate ${verb} needs an object name`);
  return name;
}

export { UsageError };

const objectPath = (name: string): string => `/apis/v2/objects/${encodeURIComponent(name)}`;

/** What runs of an object, in a few words, from one status call. */
function statusOf(item: ObjectListItem, status: GatewayStatusBody): string {
  if (item.kind === "HTTPServer") {
    const listeners = status.listeners.filter((listener) => listener.server === item.name);
    if (listeners.length === 0) return "not listening";
    return `listening ${listeners.map((listener) => endpointText(listener.address, listener.port)).join(", ")}`;
  }
  if (item.kind === "Pipeline") {
    const pools = status.pools.filter((pool) => pool.pool.startsWith(`${item.name}/`));
    const servers = pools.flatMap((pool) => pool.servers);
    if (servers.length === 0) return "";
    return `${servers.filter((server) => server.eligible).length}/${servers.length} servers available`;
  }
  return status.lastApplyError === undefined ? "applied" : `last apply failed: ${status.lastApplyError}`;
}

function sessionsOf(item: ObjectListItem, sessions: readonly SessionView[]): string {
  if (item.kind === "HTTPServer") return String(sessions.filter((session) => session.server === item.name).length);
  if (item.kind === "Pipeline") return String(sessions.filter((session) => session.pipeline === item.name).length);
  return String(sessions.length);
}

/**
 * `wsgate get [KIND|NAME]`: objects as a table NAME KIND REVISION SOURCE SESSIONS STATUS; SOURCE is the config file and
 * line an object comes from, `api` when it was created through the admin API, `-` in a cluster.
 */
export async function get(context: VerbContext): Promise<void> {
  const [selector] = context.args;
  const kind = objectKindNames.find((known) => known.toLowerCase() === selector?.toLowerCase());
  let items: ObjectListItem[];
  if (selector === undefined || kind !== undefined) {
    const query = kind === undefined ? "" : `?kind=${kind}`;
    items = await context.client.json<ObjectListItem[]>("GET", `/apis/v2/objects${query}`);
  } else {
    const response = await context.client.request("GET", objectPath(selector), undefined, {
      Accept: "application/json",
    });
    const object = JSON.parse(response.text) as Record<string, unknown>;
    const revision = Number(response.headers.get("x-object-revision"));
    const source = response.headers.get("x-object-source");
    items = [
      { name: selector, kind: String(object["kind"]), revision, ...(source === null ? {} : { source }), object },
    ];
  }
  if (structured(context, items)) return;
  const status = await context.client.json<GatewayStatusBody>("GET", "/apis/v2/status/objects");
  const rows = items.map((item) => [
    item.name,
    item.kind,
    String(item.revision),
    item.source ?? "-",
    sessionsOf(item, status.sessions),
    statusOf(item, status),
  ]);
  context.out(renderTable(["NAME", "KIND", "REVISION", "SOURCE", "SESSIONS", "STATUS"], rows));
}

/** `wsgate describe NAME`: the object as written, then what runs of it. */
export async function describe(context: VerbContext): Promise<void> {
  const name = needName(context, "describe");
  const object = await context.client.json<Record<string, unknown>>("GET", objectPath(name));
  const status = await context.client.json<Record<string, unknown>>(
    "GET",
    `/apis/v2/status/objects/${encodeURIComponent(name)}`,
  );
  if (structured(context, { object, status })) return;
  const indent = (text: string): string => text.replace(/^(?=.)/gm, "  ");
  const { name: _name, kind, revision, ...rest } = status;
  context.out(
    `Name:      ${name}\nKind:      ${String(kind)}\nRevision:  ${String(revision)}\n\n` +
      `Spec:\n${indent(stringify(object))}\nStatus:\n${indent(stringify(rest))}`,
  );
}

/** `wsgate delete NAME`. */
export async function remove(context: VerbContext): Promise<void> {
  const name = needName(context, "delete");
  const answer = await context.client.json<{ name: string; kind: string }>("DELETE", objectPath(name));
  if (structured(context, answer)) return;
  context.out(`${answer.kind.toLowerCase()} ${answer.name} deleted\n`);
}

/**
 * `wsgate sessions [--cluster]`: live WebSocket sessions; IN is what the client sent, OUT what the backend sent. With
 * `cluster`, every member's (a MEMBER column; members that did not answer are named on stderr).
 */
export async function sessions(context: VerbContext, cluster = false): Promise<void> {
  let list: (SessionView & { member?: string })[];
  if (cluster) {
    const answer = await context.client.json<ClusterSessionsBody>("GET", "/apis/v2/cluster/sessions");
    if (structured(context, answer)) return;
    for (const member of answer.members) {
      if (!member.answered) context.err(`member ${member.id} did not answer: ${member.error ?? "unknown"}\n`);
    }
    list = answer.sessions;
  } else {
    list = await context.client.json<SessionView[]>("GET", "/apis/v2/sessions");
    if (structured(context, list)) return;
  }
  const now = Date.now();
  const rows = list.map((session) => [
    ...(cluster ? [session.member ?? "-"] : []),
    session.id,
    `${session.server} ${session.route}`,
    session.pipeline,
    session.backend,
    session.client,
    session.transport ?? "h1",
    formatAge(session.ageMs),
    // The time left until the gateway closes it (a token's expiry, a lifetime); "-" when it never does.
    session.deadline === undefined ? "-" : `in ${formatAge(session.deadline - now)}`,
    formatTraffic(session.clientMessages, session.clientBytes),
    formatTraffic(session.backendMessages, session.backendBytes),
  ]);
  const headers = [
    "ID",
    "ROUTE",
    "PIPELINE",
    "BACKEND",
    "CLIENT",
    "HTTP",
    "AGE",
    "ENDS",
    "IN MSGS/BYTES",
    "OUT MSGS/BYTES",
  ];
  context.out(renderTable(cluster ? ["MEMBER", ...headers] : headers, rows));
}

/** `wsgate sessions close ID [--code CODE] [--reason TEXT]`: the gateway closes one session (1008 by default). */
export async function closeSession(context: VerbContext, code?: string, reason?: string): Promise<void> {
  const [, id] = context.args;
  if (id === undefined) throw new UsageError("wsgate sessions close needs a session ID (see wsgate sessions)");
  const query = new URLSearchParams({
    ...(code === undefined ? {} : { code }),
    ...(reason === undefined ? {} : { reason }),
  }).toString();
  const path = `/apis/v2/sessions/${encodeURIComponent(id)}${query === "" ? "" : `?${query}`}`;
  const answer = await context.client.json<{ id: string; code: number; reason: string }>("DELETE", path);
  if (structured(context, answer)) return;
  context.out(`session ${answer.id} closed with ${answer.code} ${answer.reason}\n`);
}

interface DrainAnswer {
  server: string;
  overMs: number;
  sessions: number;
  servers: DrainedServer[];
}

/** `wsgate drain SERVER [--over 30s] [--pool POOL]`: the server takes no new sessions; its live ones close over `over`. */
export async function drain(context: VerbContext, over?: string, pool?: string): Promise<void> {
  const [server, stray] = context.args;
  if (server === undefined)
    throw new UsageError("wsgate drain needs a SERVER: HOST:PORT or its URL (see wsgate describe PIPELINE)");
  if (stray !== undefined)
    throw new UsageError(`unexpected argument '${stray}' for wsgate drain (wsgate drain --help)`);
  const body = JSON.stringify({
    server,
    ...(over === undefined ? {} : { over }),
    ...(pool === undefined ? {} : { pool }),
  });
  const response = await context.client.request("POST", "/apis/v2/servers/drain", body, {
    Accept: "application/json",
    "Content-Type": "application/json",
  });
  const answer = JSON.parse(response.text) as DrainAnswer;
  if (structured(context, answer)) return;
  for (const one of answer.servers) {
    context.out(
      `${one.backend} in ${one.pool} draining: ${one.sessions} session(s) closed with ${one.code ?? 1001} ${one.overMs === 0 ? "at once" : `over ${formatAge(one.overMs)}`}\n`,
    );
  }
}

/** `wsgate upgrade`: the running gateway replaced by a new process; what moved and what stays until it ends. */
export async function upgrade(context: VerbContext): Promise<void> {
  const [stray] = context.args;
  if (stray !== undefined)
    throw new UsageError(`unexpected argument '${stray}' for wsgate upgrade (wsgate upgrade --help)`);
  const response = await context.client.request("POST", "/apis/v2/upgrade", "{}", {
    Accept: "application/json",
    "Content-Type": "application/json",
  });
  const answer = JSON.parse(response.text) as UpgradeOutcome;
  if (structured(context, answer)) return;
  context.out(
    `upgraded: PID ${answer.newPid} serves now (was ${answer.oldPid}, ${formatAge(answer.tookMs)}); ` +
      `sessions: ${answer.moved} moved, ${answer.kept} kept by PID ${answer.oldPid} until they end, ` +
      `${answer.closed} closed${keptWhy(answer)}\n`,
  );
}

/** Why sessions stayed in the old process, when some did: " (kept: 2 TLS, 1 unsettled)". */
function keptWhy(answer: UpgradeOutcome): string {
  const by = answer.keptBy;
  if (by === undefined || answer.kept === 0) return "";
  const reasons: Array<[number, string]> = [
    [by.tls, "TLS"],
    [by.wssBackend, "wss:// backend"],
    [by.unsettled, "not settled in time"],
    [by.notMovable, "not movable"],
    [by.handOverFailed, "hand-over failed"],
  ];
  const named = reasons.filter(([count]) => count > 0).map(([count, why]) => `${count} ${why}`);
  return named.length === 0 ? "" : ` (kept: ${named.join(", ")})`;
}

/** `wsgate members`: the members of the cluster the gateway belongs to. */
export async function members(context: VerbContext): Promise<void> {
  const answer = await context.client.json<{ members: MemberInfo[] }>("GET", "/apis/v2/members");
  if (structured(context, answer.members)) return;
  context.out(formatMembers(answer.members));
}

interface AppliedObject {
  name: string;
  kind: string;
  revision?: number;
  result: "created" | "updated" | "unchanged" | "failed";
  error?: string;
}

/** The server's errors for an object of the file, placed at the file's lines. */
function inFile(errors: readonly ConfigError[], file: string, object: FileObject): string[] {
  return errors.map((error) =>
    formatConfigError(
      error.file === "request" ? { ...error, file, line: error.line > 0 ? error.line + object.lineOffset : 0 } : error,
    ),
  );
}

/** `wsgate apply -f FILE`: each object created, or updated when its name is taken. Returns false if any failed. */
export async function apply(context: VerbContext, file: string): Promise<boolean> {
  const results: AppliedObject[] = [];
  for (const object of await readFileObjects(file)) {
    const { kind, name } = object;
    try {
      let result: "created" | "updated" | "unchanged" = "created";
      let answer: { revision: number; unchanged?: boolean };
      try {
        answer = await context.client.json("POST", "/apis/v2/objects", object.text);
      } catch (error) {
        if (!(error instanceof AdminRequestError) || error.code !== "WSG_OBJECT_EXISTS") throw error;
        result = "updated";
        answer = await context.client.json("PUT", objectPath(name), object.text);
        if (answer.unchanged === true) result = "unchanged";
      }
      results.push({ name, kind, revision: answer.revision, result });
      if (context.output === "table") context.out(`${kind.toLowerCase()} ${name} ${result}\n`);
    } catch (error) {
      if (error instanceof AdminRequestError && (error.status === undefined || error.status === 401)) throw error;
      const message = (error as Error).message;
      results.push({ name, kind, result: "failed", error: message });
      context.err(`${kind.toLowerCase()} ${name}: ${message}\n`);
      if (error instanceof AdminRequestError) {
        for (const line of inFile(error.errors, file, object)) context.err(`${line}\n`);
      }
    }
  }
  structured(context, results);
  return results.every((result) => result.result !== "failed");
}
