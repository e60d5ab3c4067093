import type { SessionView } from "../control/control.js";
import type { LiveSession } from "../observability/sessions.js";
import { clusterSessionId } from "./protocol.js";

/** A worker's live session as the whole gateway shows it: the id names the worker, so it is unique across workers. */
export function workerSessionView(session: LiveSession, worker: number, now = Date.now()): SessionView {
  const totals = session.totals();
  return {
    id: clusterSessionId(worker, session.id),
    server: session.server,
    route: session.route,
    pipeline: session.pipeline,
    backend: session.backend,
    client: session.client,
    startedAt: new Date(session.startedAt).toISOString(),
    ageMs: now - session.startedAt,
    clientMessages: totals.fromClient.messages,
    clientBytes: totals.fromClient.bytes,
    backendMessages: totals.fromBackend.messages,
    backendBytes: totals.fromBackend.bytes,
    worker,
  };
}
