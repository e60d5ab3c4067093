// The envelope a session hand-over travels in under `--workers` (issue 20): old worker ⇄ old primary ⇄ new primary
// ⇄ new worker, each hop a Node IPC channel that also carries the cluster's own messages. A lane is one old worker's
// hand-over; the primaries forward by lane without reading what they carry (handover-relay-hub.ts).
//
//   down (old worker → new worker): `message` (a session part with its socket, or `done`), `confirm`, `end`
//   up   (new worker → old worker): `message` (an answer, with a `seq` to confirm), `end`
//
// An answer's `seq` comes back as `confirm` once the old worker has it: only then does the new worker start the
// session (HandoverChannel.send's callback), so a hop that breaks with an answer on its way leaves the session to
// the old worker alone, never to both.

/** Marks the relay's envelopes; the cluster's messages (`type`), the upgrade's (`wsgateUpgrade`) are left alone. */
export const RELAY_TAG = "wsgateRelay";

/** A hand-over message (handover-record.ts) on its way; its socket, if any, travels as the message's handle. */
export interface RelayedMessage {
  [RELAY_TAG]: 1;
  lane: number;
  kind: "message";
  message: unknown;
  /** Up only: the old worker confirms it (an answer must reach it before the new worker acts on it). */
  seq?: number;
  /** The lane's last message (the old worker's `done`): the primaries forget the lane once it is forwarded. */
  last?: true;
}

/** Down: the old worker has the answer `seq`. */
export interface RelayConfirm {
  [RELAY_TAG]: 1;
  lane: number;
  kind: "confirm";
  seq: number;
}

/** Either way: a hop of the lane broke (a process exited, a channel closed); the lane is over. */
export interface RelayEnd {
  [RELAY_TAG]: 1;
  lane: number;
  kind: "end";
  reason: string;
  /**
   * Down only: the old worker exited, so its copies of the sockets are closed and it resumes nothing: what the new
   * worker answered and was not confirmed is the new worker's to start.
   */
  originGone: boolean;
}

export type RelayEnvelope = RelayedMessage | RelayConfirm | RelayEnd;

export function isRelayEnvelope(value: unknown): value is RelayEnvelope {
  if (typeof value !== "object" || value === null) return false;
  const envelope = value as Partial<RelayEnvelope> & { [RELAY_TAG]?: unknown };
  if (envelope[RELAY_TAG] !== 1 || !Number.isSafeInteger(envelope.lane)) return false;
  switch (envelope.kind) {
    case "message":
      return "message" in envelope;
    case "confirm":
      return Number.isSafeInteger(envelope.seq);
    case "end":
      return typeof envelope.reason === "string" && typeof envelope.originGone === "boolean";
    default:
      return false;
  }
}

export function endEnvelope(lane: number, reason: string, originGone: boolean): RelayEnd {
  return { [RELAY_TAG]: 1, lane, kind: "end", reason, originGone };
}
