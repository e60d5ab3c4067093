// A live session as plain data (JSON), for the trip to another wsgate process, and the messages of that trip.
import type { SessionOrigin } from "../observability/sessions.js";
import type { RelayDeadline } from "../websocket/relay-deadline.js";
import type { RelaySnapshot } from "../websocket/relay-snapshot.js";

/** Marks the hand-over's messages on an IPC channel that may carry others. */
export const HANDOVER_TAG = "wsgateHandover";

/** The session's deadline as data: the warning frame in base64. */
export interface DeadlineRecord {
  at: number;
  code: number;
  reason: string;
  warning?: string;
  warnBefore?: number;
}

/** Everything the receiving gateway needs besides the two sockets. */
export interface SessionRecord {
  version: 1;
  id: number;
  server: string;
  route: string;
  pipeline: string;
  /** The request target as logged (redacted). */
  path: string;
  /** The backend as status views show it. */
  backend: string;
  /** The client's TCP peer, `address:port`, as the first process saw it. */
  client: string;
  clientIp: string;
  /** When the session started, as its record says (ms since epoch). */
  startedAt: number;
  protocol?: string;
  origin: SessionOrigin;
  /** The RSV rules negotiated with the backend (permessage-deflate): the relay needs them, no config says them. */
  firstFrameRsv: number;
  anyRsv: boolean;
  deadline?: DeadlineRecord;
  relay: RelaySnapshot;
  /** Bytes read from each peer and not yet relayed, base64: the new relay reads them first. */
  pending: { client: string; backend: string };
}

/** Old → new, one per socket: the record comes with the client's socket, the backend's socket follows. */
export interface SessionPart {
  [HANDOVER_TAG]: 1;
  kind: "session";
  id: number;
  part: "client" | "backend";
  record?: SessionRecord;
}

/** New → old: what became of a session. `taken`: it runs there; `closed`: no filter for it there, closed 1001. */
export interface SessionAnswer {
  [HANDOVER_TAG]: 1;
  kind: "taken" | "closed" | "refused";
  id: number;
  reason?: string;
}

/** Old → new: no more sessions. */
export interface HandoverDone {
  [HANDOVER_TAG]: 1;
  kind: "done";
}

export type HandoverMessage = SessionPart | SessionAnswer | HandoverDone;

export function isHandoverMessage(message: unknown): message is HandoverMessage {
  return typeof message === "object" && message !== null && (message as Record<string, unknown>)[HANDOVER_TAG] === 1;
}

export function deadlineRecord(deadline: RelayDeadline | undefined): DeadlineRecord | undefined {
  if (deadline === undefined) return undefined;
  return {
    at: deadline.at,
    code: deadline.code,
    reason: deadline.reason,
    ...(deadline.warning !== undefined ? { warning: deadline.warning.toString("base64") } : {}),
    ...(deadline.warnBefore !== undefined ? { warnBefore: deadline.warnBefore } : {}),
  };
}

export function relayDeadline(record: DeadlineRecord | undefined): RelayDeadline | undefined {
  if (record === undefined) return undefined;
  return {
    at: record.at,
    code: record.code,
    reason: record.reason,
    ...(record.warning !== undefined ? { warning: Buffer.from(record.warning, "base64") } : {}),
    ...(record.warnBefore !== undefined ? { warnBefore: record.warnBefore } : {}),
  };
}

/**
 * Whether a record is whole enough to act on. It comes from the process that started this one, over a private
 * channel: a check of shape against a build that differs, not against an attacker.
 */
export function isSessionRecord(value: unknown): value is SessionRecord {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Partial<SessionRecord>;
  return (
    record.version === 1 &&
    Number.isSafeInteger(record.id) &&
    typeof record.startedAt === "number" &&
    typeof record.server === "string" &&
    typeof record.pipeline === "string" &&
    typeof record.origin === "object" &&
    record.origin !== null &&
    typeof record.origin.filter === "string" &&
    typeof record.relay === "object" &&
    record.relay !== null &&
    record.relay.version === 1 &&
    typeof record.pending === "object" &&
    record.pending !== null &&
    typeof record.pending.client === "string" &&
    typeof record.pending.backend === "string"
  );
}
