import { FrameOutbox } from "./frame-outbox.js";
import type { FrameStream } from "./frame-stream.js";
import type { RateGate } from "./rate-gate.js";
import type { RelayStream } from "./relay-stream.js";

export type PeerRole = "client" | "backend";

/**
 * Where one side of the session is: `open` while frames flow; `closing` once a close frame went to it or came from
 * it, its connection ended or failed, or it broke a rule and its close waits; `closed` once its connection closed.
 */
export type SideState = "open" | "closing" | "closed";

/** One side of a relay: its connection, the outbox of what goes to it, the stream of frames read from it. */
export class RelayPeer {
  readonly outbox: FrameOutbox;
  stream!: FrameStream;
  /** The other side: what this peer sends goes there. */
  other!: RelayPeer;
  /** open → closing → closed; see the drawing in relay.ts. */
  state: SideState = "open";
  closeReceived = false;
  /** Its connection ended or failed: nothing more is read from it or written to it. */
  gone = false;
  /** Its close, held back until the other side's close has come (it broke the protocol); null when none waits. */
  pendingClose: Buffer | null = null;
  /** When the oldest unanswered ping of ours was sent (ms on check-schedule's checkClock()), 0 when none is. */
  awaitingPongSince = 0;
  /** Reads through the connection's stream since `streamReadsSince`, up to the relay's BUSY_READS. */
  streamReads = 0;
  /** When the reads in `streamReads` began counting (ms since the session started: a small integer, not a double). */
  streamReadsSince = 0;
  /** The buffer the socket reads into, once switched to reading into buffers of the relay's. */
  readBuffer: Buffer | null = null;
  /** `stream.framesDone` when a frame was last seen open at a frame check, -1 when none was. */
  openFrameMark = -1;
  /** Frame checks in a row that found that same frame open. */
  openFrameChecks = 0;

  constructor(
    readonly role: PeerRole,
    readonly socket: RelayStream,
    /** Message and byte rate of what this peer sends; none when absent. */
    readonly rate: RateGate | undefined,
  ) {
    this.outbox = new FrameOutbox(socket);
  }

  /** A close frame has gone to it (or waits for the frame in flight to it). */
  get closeSent(): boolean {
    return this.outbox.closing;
  }

  /** Frames to a backend are masked: the gateway is its client. */
  get wantsMasked(): boolean {
    return this.role === "backend";
  }

  /** Leaves `open` (a close sent or received, its connection gone, a failure); never goes back. */
  markClosing(): void {
    if (this.state === "open") this.state = "closing";
  }
}

/** How the gateway fails a peer that broke a rule, one row per kind of failure (see `WebSocketRelay.failPeer`). */
export interface FailHow {
  /** Its later bytes are not read into frames (they cannot be trusted, or its frame will not end). */
  stopReading: boolean;
  /** A frame to it is half written when its close is due: its connection is cut, no close frame can follow. */
  cutMidFrame: boolean;
  /**
   * The other side is closed first, and frames from it still reach the peer until its close arrives (bounded by
   * closeTimeout): only then the peer gets its close. What a direct server would show a client that broke the
   * protocol: the answers already on their way, then the close.
   */
  otherFirst: boolean;
}

export const Fail = {
  /** Its frames broke RFC 6455 (reserved bits or opcode, an unexpected continuation, too big a message...). */
  protocolError: { stopReading: true, cutMidFrame: true, otherFirst: true },
  /** A frame it began did not end within frameTimeout. */
  frameStalled: { stopReading: true, cutMidFrame: true, otherFirst: false },
  /** It sent faster than its rate (action close), or the gateway holds too much for it (maxBufferedBytes). */
  overLimit: { stopReading: false, cutMidFrame: true, otherFirst: false },
  /** It sent a message or frame over its rate, with `action: close`: nothing more of it is relayed. */
  overRate: { stopReading: true, cutMidFrame: true, otherFirst: false },
  /** It did not answer the gateway's ping within pongTimeout. */
  unresponsive: { stopReading: false, cutMidFrame: false, otherFirst: false },
} as const satisfies Record<string, FailHow>;
