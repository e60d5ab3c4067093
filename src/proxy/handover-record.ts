// A live session as plain data (JSON), for the trip to another wsgate process, and the messages of that trip.
import type { AccessEntry } from "../observability/access-log.js";
import type { RenewalOrigin, RenewalState } from "./credential-expiry.js";
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
  /** The warning went out already. */
  warned?: boolean;
}

/** A session's token renewal as data: its Validator's facts, and the lifetime no renewal passes. */
export interface RenewalRecord extends RenewalOrigin {
  lifetime?: DeadlineRecord;
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
  /** Its credential's renewal, where its client may renew its token by a message. */
  renewal?: RenewalRecord;
  relay: RelaySnapshot;
  /** The access-log entry its handshake began, where its server logs access (user agent, request id...). */
  access?: AccessEntry;
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
    ...(deadline.warned === true ? { warned: true } : {}),
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
    ...(record.warned === true ? { warned: true } : {}),
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

/**
 * The access-log entry a moved session's end completes in the new process: the one its handshake began, as it came
 * (only text and number fields), or one made of the record when the old process had no access log for its server.
 */
export function resumedAccessEntry(record: SessionRecord): AccessEntry {
  const entry: AccessEntry = {};
  const access: unknown = record.access;
  if (typeof access === "object" && access !== null) {
    for (const [field, value] of Object.entries(access)) {
      if (typeof value === "string" || typeof value === "number") entry[field as keyof AccessEntry] = value;
    }
  }
  entry.server ??= record.server;
  entry.route ??= record.route;
  if (record.pipeline !== "") entry.pipeline ??= record.pipeline;
  entry.method ??= "GET";
  entry.path ??= record.path;
  entry.clientIp ??= record.clientIp;
  entry.transport ??= "h1";
  entry.backend ??= record.backend;
  return entry;
}

export function renewalRecord(state: RenewalState | undefined): RenewalRecord | undefined {
  if (state === undefined) return undefined;
  const { validator, subject, cap, reason } = state.origin;
  const lifetime = deadlineRecord(state.lifetime);
  return {
    validator,
    ...(subject !== undefined ? { subject } : {}),
    cap,
    reason,
    ...(lifetime !== undefined ? { lifetime } : {}),
  };
}

/** The renewal's facts as this process's Validator takes them, when the record holds them whole. */
export function renewalOrigin(record: RenewalRecord | undefined): RenewalOrigin | undefined {
  if (typeof record !== "object" || record === null) return undefined;
  const { validator, subject, cap, reason } = record;
  if (typeof validator !== "string" || typeof reason !== "string") return undefined;
  if (cap !== null && typeof cap !== "number") return undefined;
  if (subject !== undefined && typeof subject !== "string") return undefined;
  return { validator, subject, cap, reason };
}
