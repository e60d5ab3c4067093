import type { LiveSession } from "../observability/sessions.js";
import type { SessionView } from "./control.js";

/** A session's id in the admin API: `<n>`, or `<worker>-<n>` with workers, as ids are unique per process only. */
export function gatewaySessionId(id: number, worker?: number): string {
  return worker === undefined ? String(id) : `${worker}-${id}`;
}

/**
 * A live session as the admin API shows it. With `worker` (several workers behind a primary) the id names the worker
 * as `<worker>-<n>`, so that it is unique across workers.
 */
export function sessionView(session: LiveSession, now: number, worker?: number): SessionView {
  const totals = session.totals();
  const view: SessionView = {
    id: gatewaySessionId(session.id, worker),
    server: session.server,
    route: session.route,
    pipeline: session.pipeline,
    backend: session.backend,
    client: session.client,
    clientIp: session.clientIp,
    startedAt: new Date(session.startedAt).toISOString(),
    ageMs: now - session.startedAt,
    clientMessages: totals.fromClient.messages,
    clientBytes: totals.fromClient.bytes,
    backendMessages: totals.fromBackend.messages,
    backendBytes: totals.fromBackend.bytes,
  };
  if (session.protocol !== undefined) view.protocol = session.protocol;
  view.transport = session.transport ?? "h1";
  const deadline = session.deadline;
  if (deadline !== undefined) view.deadline = deadline;
  if (worker !== undefined) view.worker = worker;
  return view;
}
