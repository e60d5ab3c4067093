import { objectKindNames } from "../config/object-kinds.js";
import type { SessionView } from "../control/control.js";
import { ObjectNotFoundError } from "../errors.js";
import type { AdminAnswer, AdminRequest } from "./response.js";

/** `GET /apis/v2/status/objects`: listeners, pools with their servers, live sessions, the last apply error. */
export async function gatewayStatus({ control }: AdminRequest): Promise<AdminAnswer> {
  const [status, sessions] = await Promise.all([control.status(), control.sessions()]);
  const { sessions: sessionCount, ...rest } = status;
  // `pid`: the process serving this admin listener and these sessions (it changes with `wsgate upgrade`).
  return { status: 200, body: { pid: process.pid, ...rest, sessionCount, sessions } };
}

/**
 * `GET /apis/v2/status/objects/{name}`: what runs of one object. A server: its listeners and sessions; a pipeline:
 * its pools and sessions; the Gateway object: the process's apply state and session count.
 */
export async function objectStatus({ control, params }: AdminRequest): Promise<AdminAnswer> {
  const name = params["name"] ?? "";
  const stored = control.store.get(name);
  if (stored === undefined) throw new ObjectNotFoundError(name);
  const [status, sessions] = await Promise.all([control.status(), control.sessions()]);
  const base = { name, kind: stored.object.kind, revision: stored.revision };
  const mine = (test: (session: SessionView) => boolean): SessionView[] => sessions.filter(test);
  switch (stored.object.kind) {
    case "HTTPServer":
      return {
        status: 200,
        body: {
          ...base,
          listeners: status.listeners.filter((listener) => listener.server === name),
          sessions: mine((session) => session.server === name),
        },
      };
    case "Pipeline":
      return {
        status: 200,
        body: {
          ...base,
          pools: status.pools.filter((pool) => pool.pool.startsWith(`${name}/`)),
          sessions: mine((session) => session.pipeline === name),
        },
      };
    default:
      return {
        status: 200,
        body: { ...base, sessionCount: status.sessions, lastApplyError: status.lastApplyError ?? null },
      };
  }
}

/** `GET /apis/v2/object-kinds`. */
export function objectKinds(): Promise<AdminAnswer> {
  return Promise.resolve({ status: 200, body: objectKindNames });
}

/** `GET /metrics`: Prometheus text exposition. */
export async function metrics({ control }: AdminRequest): Promise<AdminAnswer> {
  return { status: 200, text: await control.metrics() };
}
