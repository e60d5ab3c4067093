import type { FrameStreamSnapshot } from "./frame-stream.js";
import type { RateGateSnapshot } from "./rate-gate.js";

/**
 * Where one side of the session is: `open` while frames flow; `closing` once a close frame went to it or came from
 * it, its connection ended or failed, or it broke a rule and its close waits; `closed` once its connection closed.
 */
export type SideState = "open" | "closing" | "closed";

/** One side of a relay at a frame boundary, as plain data. */
export interface RelaySideSnapshot {
  state: SideState;
  /** What its frames have done so far: counters, the message in progress (for the size limit), last data time. */
  stream: FrameStreamSnapshot;
  /** When the oldest unanswered ping of the gateway's went to it (ms since epoch), 0 when none is outstanding. */
  awaitingPongSince: number;
  /** Its rate gate's levels, null when it has none. */
  rate: RateGateSnapshot | null;
}

/**
 * A relay between two frames, as plain data (JSON-safe): enough to take the session up again on the same two
 * connections, in this process or another (`new WebSocketRelay(..., snapshot)`). The options (limits, timeouts)
 * are not part of it: the new relay gets its own, and the snapshot holds only how far the session is.
 */
export interface RelaySnapshot {
  version: 1;
  /** When the session started (ms since epoch): its duration and idle time go on from there. */
  startedAt: number;
  client: RelaySideSnapshot;
  backend: RelaySideSnapshot;
}
