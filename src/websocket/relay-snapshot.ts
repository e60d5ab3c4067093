import type { FrameStreamSnapshot } from "./frame-stream.js";
import type { RateGateSnapshot } from "./rate-gate.js";
import { CHECK_CLOCK_ORIGIN } from "./check-schedule.js";
import type { RelayPeer, SideState } from "./relay-peer.js";

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
 * are not part of it: the new relay gets its own, and the snapshot holds only how far the session is. Pongs to
 * pings the first relay sent are not recognised by the second (its ping payload differs): they pass through to the
 * other peer, as unsolicited pongs may (RFC 6455 5.5.3).
 */
export interface RelaySnapshot {
  version: 1;
  /** When the session started (ms since epoch): its duration and idle time go on from there. */
  startedAt: number;
  client: RelaySideSnapshot;
  backend: RelaySideSnapshot;
}

/** Nothing of a frame held from the peer, nothing half written to it, no frame of the gateway's own waiting. */
export function atFrameBoundary(peer: RelayPeer): boolean {
  return peer.stream.atFrameBoundary && !peer.outbox.midFrame && !peer.outbox.hasQueued;
}

export function sideSnapshot(peer: RelayPeer): RelaySideSnapshot {
  return {
    state: peer.state,
    stream: peer.stream.snapshot(),
    awaitingPongSince: peer.awaitingPongSince === 0 ? 0 : peer.awaitingPongSince + CHECK_CLOCK_ORIGIN,
    rate: peer.rate?.snapshot() ?? null,
  };
}

export function restoreSide(peer: RelayPeer, side: RelaySideSnapshot): void {
  peer.stream.restore(side.stream);
  // Ms since epoch in the snapshot, on the checks' clock in the peer (never 0 for a ping that is outstanding).
  peer.awaitingPongSince = side.awaitingPongSince === 0 ? 0 : side.awaitingPongSince - CHECK_CLOCK_ORIGIN || -1;
  if (side.rate !== null) peer.rate?.restore(side.rate);
}
