import { randomBytes } from "node:crypto";
import type { FrameFailureKind } from "./frame-error.js";
import { policyFor, type FrameLimits } from "./frame-policy.js";
import { FrameStream, type FrameStreamHandler, type FrameStreamOptions } from "./frame-stream.js";
import { encodeCloseFrame, encodeControlFrame } from "./frame-writer.js";
import { CloseCode, Opcode } from "./protocol.js";
import type { MessageTally } from "../util/message-tally.js";
import { ignoreStreamError } from "../util/net/ignore-error.js";
import type { RateGate } from "./rate-gate.js";
import { CHECK_CLOCK_ORIGIN, checkClock, relayChecks, type ScheduledCheck } from "./check-schedule.js";
import { closeWhenFlushed, writableAfterEnd } from "./relay-close.js";
import {
  DeadlineTimer,
  inspectorFor,
  type ClientMessageInspector,
  type DeadlineHost,
  type RelayDeadline,
  type SessionControl,
} from "./relay-deadline.js";
import { Fail, type FailHow, RelayPeer as Peer, type PeerRole, type SideState } from "./relay-peer.js";
import { atFrameBoundary, restoreSide, sideSnapshot, type RelaySnapshot } from "./relay-snapshot.js";
import { RelaySettle, type PendingBytes } from "./relay-settle.js";
import type { RelayStream } from "./relay-stream.js";
import { READ_BUFFER_SIZE, canReadIntoBuffer, readIntoBuffer } from "./socket-reader.js";

export type { PeerRole, SideState } from "./relay-peer.js";
export type { RelaySideSnapshot, RelaySnapshot } from "./relay-snapshot.js";
export type { PendingBytes } from "./relay-settle.js";
export type { ClientMessageInspector, RelayDeadline, SessionControl } from "./relay-deadline.js";
export type { RelayStream } from "./relay-stream.js";

/**
 * After this many reads through its stream within BUSY_WINDOW_MS, a peer's socket is read into a 64 KiB buffer of
 * the relay's (socket-reader). Counted in a window, not over the session's life: an idle session's pongs (a read per
 * ping interval) would otherwise earn each of its sockets a 64 KiB buffer after a few minutes.
 */
const BUSY_READS = 8;
const BUSY_WINDOW_MS = 1000;
/**
 * A peer read into a 64 KiB buffer that then reads fewer than BUSY_READS times in a ping interval goes quiet: its
 * socket is read into a buffer of this size from its next read on (a pong is at most 131 B), until it is busy again.
 * A long session that was busy once would otherwise keep 64 KiB per socket for the rest of its life.
 */
const QUIET_READ_SIZE = 1024;

export interface RelayOptions {
  /** Largest message from the client, all fragments together; -1 for no limit. */
  clientMaxMessageSize: number;
  /** Largest message from the backend; -1 for no limit. */
  backendMaxMessageSize: number;
  /** Ping both peers this often (ms); 0 turns the gateway's pings off. */
  pingInterval: number;
  /** Drop a peer that has not answered a ping for this long (ms); 0 never drops. */
  pongTimeout: number;
  /** Close both sides when no data frame passed either way for this long (ms); 0 turns it off. */
  maxInactivity: number;
  /**
   * A frame (header or payload) that has begun arriving must be complete within this long (ms), while the gateway
   * reads its sender; else the sender gets 1008 and the other side 1001. 0 turns it off.
   */
  frameTimeout: number;
  /**
   * How long the close handshake may take before the connections are cut (ms). After a peer's protocol error, also
   * how long the other side's close is awaited before the offender gets its own close (and as long again to end).
   */
  closeTimeout: number;
  /** RSV bits the negotiated extensions allow on a message's first frame. */
  firstFrameRsv: number;
  /** An unknown extension was negotiated, so RSV bits are not checked. */
  anyRsv: boolean;
  /**
   * Most bytes the gateway may hold for the session, waiting for a peer that reads too slowly (both directions
   * together); beyond it the slow peer gets 1008 and the other 1001. -1 for no limit.
   */
  maxBufferedBytes: number;
  /** Where messages from the client and from the backend are counted by size and frames (metrics); none when absent. */
  clientTally?: MessageTally;
  backendTally?: MessageTally;
  /** Close code the client gets when the backend's connection is lost mid-session; 1011 when absent. */
  backendLostCode?: number;
  /** Message and byte rate of what the client sends (`clientMaxMsgRate`, `clientMaxByteRate`); none when absent. */
  clientRate?: RateGate;
  /** Message and byte rate of what the backend sends (`serverMaxMsgRate`, `serverMaxByteRate`). */
  backendRate?: RateGate;
  /** Limits on the client's frames (size, fragments, control rate, types); none when absent. */
  clientFrameLimits?: FrameLimits;
  /** Limits on the backend's frames. */
  backendFrameLimits?: FrameLimits;
  /** When the session ends (a credential's expiry, a lifetime), with its warning and close; none: no timer at all. */
  deadline?: RelayDeadline | undefined;
  /** Reads the client's small text messages before they are relayed (token renewal); none: nothing is gathered. */
  clientInspector?: ClientMessageInspector | undefined;
}

export interface PeerTotals {
  messages: number;
  bytes: number;
  /** Payload bytes of the largest message. */
  largest: number;
}

/** How a relay ended, for the session log line. */
export interface RelayOutcome {
  /** Who started the close: a peer, or the gateway itself (timeouts, limits it enforces, shutdown). */
  closedBy: PeerRole | "gateway";
  /** The first close code sent or received; 1006 when a peer vanished without one. */
  closeCode: number;
  closeReason: string;
  durationMs: number;
  fromClient: PeerTotals;
  fromBackend: PeerTotals;
  /** The session was not closed: it went on in another process (`handedOver()`). */
  handedOver?: true;
}

/** What a hand-over needs of a relay beyond its snapshot. */
export interface RelayHandoverFacts {
  client: RelayStream;
  backend: RelayStream;
  /** The RSV rules the backend's handshake negotiated (RelayOptions.firstFrameRsv, anyRsv). */
  firstFrameRsv: number;
  anyRsv: boolean;
  /** The deadline in force, if any (it may have moved since the start: a renewed credential). */
  deadline: RelayDeadline | undefined;
  /** What reads the client's messages (a renewal reader), which its session may take along. */
  clientInspector: ClientMessageInspector | undefined;
}

/**
 * Told once, when the relay has finished: an object whose method is called (a session's record: no closure per
 * session), or a function.
 */
export interface RelayEndHandler {
  relayEnded(outcome: RelayOutcome): void;
}

// Pings of our own carry this payload so that their pongs are recognised and swallowed; others pass through.
const PING_PREFIX = Buffer.from(`wsgate:${randomBytes(4).toString("hex")}:`);
// The same frame serves every client (frames to clients are not masked): a heartbeat makes no garbage there.
const CLIENT_PING = encodeControlFrame(Opcode.Ping, PING_PREFIX, false);

function isOwnPong(payload: Buffer): boolean {
  return (
    payload.length >= PING_PREFIX.length &&
    payload.compare(PING_PREFIX, 0, PING_PREFIX.length, 0, PING_PREFIX.length) === 0
  );
}

const BUFFER_LIMIT_REASON = "buffer limit exceeded";
const RATE_LIMIT_REASON = "message rate exceeded";

/** The relay a stream is wired to (`WebSocketRelay.listen`): the listeners every session shares find it here. */
const RELAY = Symbol("wsgate relay");
type WiredStream = RelayStream & { [RELAY]?: WebSocketRelay | undefined };

function relayOf(stream: RelayStream): WebSocketRelay {
  return (stream as WiredStream)[RELAY] as WebSocketRelay;
}

/** Close code the remaining side gets when its partner vanished without a close frame. */
const PEER_LOST_CLOSE: Record<PeerRole, { code: number; reason: string }> = {
  client: { code: CloseCode.GoingAway, reason: "client went away" },
  backend: { code: CloseCode.InternalError, reason: "backend connection lost" },
};

/** A read buffer of the relay's: small ones not from Node's pool, whose 8 KiB slabs they would keep alive. */
function readBufferOf(size: number): Buffer {
  return size === READ_BUFFER_SIZE ? Buffer.allocUnsafe(size) : Buffer.allocUnsafeSlow(size);
}

/**
 * The two FrameStream options of one relay (client's, backend's). Where `options` hold nothing of one session (no
 * rate gate, deadline or inspector, and no frame limits, whose policy counts per stream), they are plain config and
 * their FrameStream options are made once per `options` object: a filter's sessions share one (184 B a session).
 */
const sharedFrameOptions = new WeakMap<RelayOptions, readonly [FrameStreamOptions, FrameStreamOptions]>();

function frameStreamOptions(
  options: RelayOptions,
  relay: WebSocketRelay,
): readonly [FrameStreamOptions, FrameStreamOptions] {
  const clientPolicy = policyFor(options.clientFrameLimits);
  const backendPolicy = policyFor(options.backendFrameLimits);
  const sessionFree =
    clientPolicy === null &&
    backendPolicy === null &&
    options.clientRate === undefined &&
    options.backendRate === undefined &&
    options.deadline === undefined &&
    options.clientInspector === undefined;
  if (sessionFree) {
    const shared = sharedFrameOptions.get(options);
    if (shared !== undefined) return shared;
  }
  const trackActivity = options.maxInactivity > 0;
  const made = [
    {
      fromClient: true,
      maxMessageSize: options.clientMaxMessageSize,
      firstFrameRsv: options.firstFrameRsv,
      anyRsv: options.anyRsv,
      trackActivity,
      tally: options.clientTally,
      gateDataFrames: options.clientRate !== undefined,
      policy: clientPolicy,
      inspector: options.clientInspector === undefined ? undefined : inspectorFor(options.clientInspector, relay),
    },
    {
      fromClient: false,
      maxMessageSize: options.backendMaxMessageSize,
      firstFrameRsv: options.firstFrameRsv,
      anyRsv: options.anyRsv,
      trackActivity,
      tally: options.backendTally,
      gateDataFrames: options.backendRate !== undefined,
      policy: backendPolicy,
    },
  ] as const;
  if (sessionFree) sharedFrameOptions.set(options, made);
  return made;
}

/**
 * The session as a whole: `open`, then `closing` from the first side that leaves open, then `finished`; or
 * `detached` when it let go of its connections to be taken up elsewhere.
 */
export type RelayPhase = "open" | "closing" | "finished" | "detached";

/**
 * A WebSocket session between a client and a backend after both handshakes. Frames flow through as a stream in
 * both directions; the gateway adds its own pings, enforces limits and timeouts, and carries the close handshake
 * across, ending the connections only when both sides are done or the close timeout runs out.
 *
 * Each side goes   open ──────────► closing ──────────► closed
 *                        close sent,        its connection
 *                        close received,    emitted `close`
 *                        connection gone,
 *                        failed by us
 * The session is `open` while both sides are, `closing` from the first that is not (pings, idle and frame checks
 * and rates stop, the close timer runs), `finished` once both sides are closed (`onEnd`, once).
 *
 * Ways out of `open`, each in one place:
 *   a peer's close frame      → onCloseFrame: relayed as it came to the other side
 *   a peer's connection ends  → onPeerGone: the other side gets 1001 (client gone) or 1011 (backend lost; or
 *                               `backendLostCode`)
 *   a peer breaks a rule      → failPeer: it gets its code, the other side 1001 (for a protocol error, the other
 *                               side first, the offender once the other's close is back: see Fail.protocolError)
 *   the gateway closes        → closeBoth (shutdown, an operator, idle timeout): the same code to both
 *   closeTimeout              → onCloseTimeout: connections cut
 *
 * It runs on any duplex byte stream (RelayStream): tuning a TCP socket is the caller's (relay-socket.ts).
 */
export class WebSocketRelay implements FrameStreamHandler, DeadlineHost, SessionControl, ScheduledCheck {
  private readonly client: Peer;
  private readonly backend: Peer;
  /** When the relay started (taken up again: when it first started), ms since epoch. */
  readonly startedAt: number;
  private phase: RelayPhase = "open";
  /**
   * Every periodic check while the session is open (ping, pong deadline, idle, frame progress) is due at the
   * earliest of the due times below (ms on checkClock(): small integers, 0 for none), and the session waits for it
   * in the process's one check schedule (check-schedule.ts), with no timer of its own. A session deadline can join
   * as one more due time.
   */
  scheduledAt = 0;
  /** The session's place in the check schedule; -1 when not in it (check-schedule.ts keeps it). */
  scheduleIndex = -1;
  private nextPingAt = 0;
  private pongDueAt = 0;
  private idleDueAt = 0;
  private frameCheckAt = 0;
  private closeTimer: NodeJS.Timeout | undefined;
  /** Only for a session with a deadline. */
  private deadline: DeadlineTimer | undefined;
  private outcome: Pick<RelayOutcome, "closedBy" | "closeCode" | "closeReason"> | undefined;
  /** Set while the session is brought to rest for a hand-over (relay-settle.ts). */
  private settling: RelaySettle | null = null;

  /**
   * `from`: a snapshot of a session taken up again on these connections (see `snapshot()`); the relay goes on
   * from there, with the limits and timeouts of `options`.
   */
  constructor(
    clientSocket: RelayStream,
    backendSocket: RelayStream,
    private readonly options: RelayOptions,
    private readonly onEnd: RelayEndHandler | ((outcome: RelayOutcome) => void),
    from?: RelaySnapshot,
  ) {
    this.client = new Peer("client", clientSocket, options.clientRate);
    this.backend = new Peer("backend", backendSocket, options.backendRate);
    this.client.other = this.backend;
    this.backend.other = this.client;
    const [clientFrames, backendFrames] = frameStreamOptions(options, this);
    this.client.stream = new FrameStream(clientFrames, this.backend.outbox, this);
    this.backend.stream = new FrameStream(backendFrames, this.client.outbox, this);
    this.startedAt = from?.startedAt ?? Date.now();
    if (from !== undefined) {
      restoreSide(this.client, from.client);
      restoreSide(this.backend, from.backend);
    }
  }

  /** Starts relaying; `clientHead` and `backendHead` are bytes each side sent right after its handshake. */
  start(clientHead: Buffer, backendHead: Buffer): void {
    WebSocketRelay.listen(this.client.socket, this);
    WebSocketRelay.listen(this.backend.socket, this);

    this.startChecks();
    if (this.options.deadline !== undefined) this.setDeadline(this.options.deadline);

    if (backendHead.length > 0) this.onData(this.backend, backendHead);
    if (clientHead.length > 0) this.onData(this.client, clientHead);
    this.releaseReaders();
  }

  /** Live totals, for status views. */
  totals(): { fromClient: PeerTotals; fromBackend: PeerTotals } {
    const client = this.client.stream;
    const backend = this.backend.stream;
    return {
      fromClient: { messages: client.messages, bytes: client.bytes, largest: client.largestMessage },
      fromBackend: { messages: backend.messages, bytes: backend.bytes, largest: backend.largestMessage },
    };
  }

  /** Where the session and each side are (status views, tests). */
  state(): { phase: RelayPhase; client: SideState; backend: SideState } {
    return { phase: this.phase, client: this.client.state, backend: this.backend.state };
  }

  /** Closes both sides with one code, as the gateway (shutdown, an operator). */
  close(code: number, reason: string): void {
    this.closeBoth(code, reason);
  }

  /** Sets or moves the session's deadline (a renewed credential); ignored once the session is closing. */
  setDeadline(deadline: RelayDeadline): void {
    if (this.phase !== "open") return;
    if (this.deadline === undefined) {
      this.deadline = new DeadlineTimer(this, deadline);
      this.deadline.start();
    } else {
      this.deadline.move(deadline);
    }
  }

  /** The deadline in force (ms since epoch), or undefined when the session has none. */
  get deadlineAt(): number | undefined {
    return this.deadline?.at;
  }

  /** The deadline's warning: to the client between two messages, never between the fragments of one. */
  warnClient(frame: Buffer): boolean {
    if (this.phase !== "open") return true;
    if (this.backend.stream.messageOpen) return false;
    this.client.outbox.inject(frame);
    return true;
  }

  /** Closes the session for a policy (a deadline, a refused renewal): the client gets `code`, the backend 1001. */
  expire(code: number, reason: string): void {
    if (this.phase !== "open") return;
    this.closeBoth(code, reason, CloseCode.GoingAway);
  }

  /** Cuts both connections without a close handshake. */
  terminate(): void {
    this.cutBoth();
  }

  // ---- capture and take up again ----

  /**
   * The session as plain data, when it is open and both directions are between frames (nothing of a frame held,
   * nothing half written, no frame of the gateway's own waiting); null otherwise, to be asked again later. Bytes
   * a connection has taken but not yet sent are the connection's, not in the snapshot.
   */
  snapshot(): RelaySnapshot | null {
    if (this.phase !== "open" || !atFrameBoundary(this.client) || !atFrameBoundary(this.backend)) return null;
    return {
      version: 1,
      startedAt: this.startedAt,
      client: sideSnapshot(this.client),
      backend: sideSnapshot(this.backend),
    };
  }

  /**
   * Lets go of both connections without closing them (after `snapshot()`, to hand them on): listeners off, timers
   * and rate gates stopped, reading paused; `onEnd` is not called. A TCP socket already read into the relay's own
   * buffers (socket-reader) keeps calling this relay: hand such a socket to another process, not to another relay
   * in this one.
   */
  detach(): void {
    if (this.phase === "finished" || this.phase === "detached") return;
    this.phase = "detached";
    this.stopTimers();
    clearTimeout(this.closeTimer);
    this.client.rate?.stop();
    this.backend.rate?.stop();
    const client = this.client.socket;
    const backend = this.backend.socket;
    client.pause();
    backend.pause();
    WebSocketRelay.unlisten(client);
    WebSocketRelay.unlisten(backend);
  }

  // ---- the streams' listeners: one set shared by every session, finding their relay on the stream ----

  /**
   * Wires `stream` to `relay`. Functions shared by all sessions, not arrow fields: those cost every session ten
   * closures (560 B). A listener is called with its stream as `this`, and finds the relay under RELAY on it.
   */
  private static listen(stream: RelayStream, relay: WebSocketRelay): void {
    (stream as WiredStream)[RELAY] = relay;
    stream.on("data", WebSocketRelay.onStreamData);
    stream.on("drain", WebSocketRelay.onStreamDrain);
    stream.on("end", WebSocketRelay.onStreamEnd);
    stream.on("error", WebSocketRelay.onStreamError);
    stream.on("close", WebSocketRelay.onStreamClose);
    // The handshake's placeholder listeners go: errors are the relay's now, and one listener is no array (64 B).
    for (let others = stream.listenerCount("error") - 1; others > 0; others--) stream.off("error", ignoreStreamError);
  }

  private static unlisten(stream: RelayStream): void {
    // A stream let go of is never without an error listener (it may wait to be handed on).
    stream.on("error", ignoreStreamError);
    stream.off("data", WebSocketRelay.onStreamData);
    stream.off("drain", WebSocketRelay.onStreamDrain);
    stream.off("end", WebSocketRelay.onStreamEnd);
    stream.off("error", WebSocketRelay.onStreamError);
    stream.off("close", WebSocketRelay.onStreamClose);
    (stream as WiredStream)[RELAY] = undefined;
  }

  private static onStreamData(this: RelayStream, chunk: Buffer): void {
    const relay = relayOf(this);
    relay.onData(relay.client.socket === this ? relay.client : relay.backend, chunk);
  }

  /** What was held back for a slow reader has gone: the other side is read again. */
  private static onStreamDrain(this: RelayStream): void {
    const relay = relayOf(this);
    relay.resumeReader(relay.client.socket === this ? relay.backend : relay.client);
  }

  private static onStreamEnd(this: RelayStream): void {
    const relay = relayOf(this);
    relay.onPeerGone(relay.client.socket === this ? relay.client : relay.backend, false);
  }

  private static onStreamError(this: RelayStream): void {
    const relay = relayOf(this);
    relay.onPeerGone(relay.client.socket === this ? relay.client : relay.backend, true);
  }

  private static onStreamClose(this: RelayStream): void {
    const relay = relayOf(this);
    relay.onConnectionClosed(relay.client.socket === this ? relay.client : relay.backend);
  }

  // ---- a hand-over: brought to rest, captured, handed on or taken up again ----

  /**
   * Starts bringing the session to rest (relay-settle.ts): no timer runs meanwhile (no ping, no timeout). False,
   * doing nothing, unless it is open. Then `settleStep()` until true, and `capture()`; or `cancelSettle()`.
   */
  beginSettle(): boolean {
    if (this.phase !== "open" || this.settling !== null) return false;
    this.settling = new RelaySettle(this.client, this.backend);
    this.stopTimers();
    return true;
  }

  /** Moves toward rest; true once both sides are between frames, not read, and written out. */
  settleStep(): boolean {
    return this.phase === "open" && this.settling !== null && this.settling.step();
  }

  /**
   * At rest: the session as data and the bytes read and not relayed (not counted in the snapshot: they are counted
   * where they are parsed). The relay stays at rest until `handedOver()` or `cancelSettle()`.
   */
  capture(): { snapshot: RelaySnapshot; pending: PendingBytes } | null {
    const settle = this.settling;
    if (settle === null || !this.settleStep()) return null;
    const pending = settle.pending();
    const client = sideSnapshot(this.client);
    const backend = sideSnapshot(this.backend);
    client.stream.bytes -= pending.client.length;
    backend.stream.bytes -= pending.backend.length;
    return { snapshot: { version: 1, startedAt: this.startedAt, client, backend }, pending };
  }

  /** Takes the session up again here, as if never paused: held bytes first, then reading, timers, pings. */
  cancelSettle(): void {
    const settle = this.settling;
    if (settle === null) return;
    this.settling = null;
    settle.cancel();
    if (this.phase === "finished" || this.phase === "detached") return;
    if (this.phase === "open") {
      this.startChecks();
      this.deadline?.start();
    }
    this.releaseReaders();
  }

  /**
   * The session runs in another process now: this one's copies of the connections are let go (no close sent) and
   * `onEnd` hears of it (`handedOver`), with the totals so far.
   */
  handedOver(): void {
    if (this.phase !== "open" || this.settling === null) return;
    this.settling = null;
    this.detach();
    this.client.socket.destroy();
    this.backend.socket.destroy();
    const { fromClient, fromBackend } = this.totals();
    const moved: RelayOutcome = {
      closedBy: "gateway",
      closeCode: CloseCode.GoingAway,
      closeReason: "handed over",
      durationMs: Date.now() - this.startedAt,
      fromClient,
      fromBackend,
      handedOver: true,
    };
    if (typeof this.onEnd === "function") this.onEnd(moved);
    else this.onEnd.relayEnded(moved);
  }

  handoverFacts(): RelayHandoverFacts {
    return {
      client: this.client.socket,
      backend: this.backend.socket,
      firstFrameRsv: this.options.firstFrameRsv,
      anyRsv: this.options.anyRsv,
      deadline: this.deadline?.deadline,
      clientInspector: this.options.clientInspector,
    };
  }

  // ---- data and backpressure ----

  private onData(from: Peer, chunk: Buffer): void {
    if (++from.streamReads === BUSY_READS) this.busyOrNot(from);
    this.afterRead(from, chunk);
  }

  private afterRead(from: Peer, chunk: Buffer): void {
    this.receive(from, chunk);
    if (!this.enforceBufferLimit() && this.holdsBack(from.other)) from.socket.pause();
  }

  /** A chunk read into `from.readBuffer`: the same as `data`, but views of it must not outlive the call. */
  private onBufferedRead(from: Peer, chunk: Buffer): void {
    if (this.phase === "detached") return;
    if (from.streamReads < BUSY_READS && ++from.streamReads === BUSY_READS) this.busyAgainOrNot(from);
    const to = from.other;
    to.outbox.borrowed = true;
    try {
      this.afterRead(from, chunk);
    } finally {
      to.outbox.borrowed = false;
    }
    if (to.outbox.lent) {
      // A write still points into the buffer: the next read goes into a new one.
      to.outbox.lent = false;
      from.readBuffer = readBufferOf((from.readBuffer as Buffer).length);
    }
  }

  /**
   * BUSY_READS reads into a buffer: a quiet peer's, within BUSY_WINDOW_MS, is busy again and gets a 64 KiB buffer
   * from its next read on (given to the socket after this read, see readIntoBuffers); else count again. A busy
   * peer's reads are only counted, up to BUSY_READS, for the ping interval's quiet test (`quietOrNot`).
   */
  private busyAgainOrNot(from: Peer): void {
    if ((from.readBuffer as Buffer).length === READ_BUFFER_SIZE) return;
    const at = Date.now() - this.startedAt;
    if (at - from.streamReadsSince <= BUSY_WINDOW_MS) {
      from.readBuffer = readBufferOf(READ_BUFFER_SIZE);
    } else {
      from.streamReadsSince = at;
    }
    from.streamReads = 0;
  }

  /** Once a ping interval: a peer read into a 64 KiB buffer that read less than BUSY_READS times since is quiet. */
  private quietOrNot(peer: Peer): void {
    const buffer = peer.readBuffer;
    if (buffer === null) return;
    if (buffer.length === READ_BUFFER_SIZE && peer.streamReads < BUSY_READS) {
      // The socket takes it after its next read (a pong to this ping, at the latest): it holds the big one till then.
      peer.readBuffer = readBufferOf(QUIET_READ_SIZE);
      peer.streamReadsSince = Date.now() - this.startedAt;
    }
    peer.streamReads = 0;
  }

  /** BUSY_READS reads: a busy peer if they came within BUSY_WINDOW_MS (ms since the session started), else count again. */
  private busyOrNot(from: Peer): void {
    const at = Date.now() - this.startedAt;
    if (at - from.streamReadsSince <= BUSY_WINDOW_MS) {
      this.readIntoBuffers(from);
      return;
    }
    from.streamReads = 0;
    from.streamReadsSince = at;
  }

  /** A busy peer: from a later turn of the event loop (never inside one of its reads), read into a reused buffer. */
  private readIntoBuffers(from: Peer): void {
    if (!canReadIntoBuffer(from.socket)) return;
    setImmediate(() => {
      if (from.state !== "open" || this.phase !== "open") return;
      const buffer = Buffer.allocUnsafe(READ_BUFFER_SIZE);
      const switched = readIntoBuffer(
        from.socket,
        buffer,
        (chunk) => this.onBufferedRead(from, chunk),
        () => from.readBuffer ?? buffer,
      );
      if (switched) {
        from.readBuffer = buffer;
        from.streamReads = 0;
      }
    });
  }

  private receive(from: Peer, chunk: Buffer): void {
    const inFrame = from.stream.inDataFrame;
    from.stream.push(chunk);
    // A peer in the middle of a frame cannot answer a ping until the frame ends; its bytes show it is alive.
    if (inFrame || from.stream.inDataFrame) from.awaitingPongSince = 0;
  }

  // ---- message and byte rates ----

  /** Resumes reading `peer` unless its rate gate holds it (the gate's timer resumes it then). */
  private resumeReader(peer: Peer): void {
    if (peer.rate?.held !== true && this.settling?.frozen(peer) !== true) peer.socket.resume();
  }

  /**
   * Before a data frame from the peer of `stream` is relayed: over its rate, the stream holds it at the frame
   * boundary and reading pauses until the gate's timer (or, `close`, the peer gets 1008).
   */
  onDataFrame(stream: FrameStream, messageStart: boolean, frameBytes: number): number {
    const gate = (stream === this.client.stream ? this.client : this.backend).rate;
    if (gate === undefined || this.phase !== "open") return 0;
    return gate.admitFrame(messageStart, frameBytes);
  }

  onFrameHeld(stream: FrameStream, waitMs: number): void {
    const peer = stream === this.client.stream ? this.client : this.backend;
    const gate = peer.rate as RateGate;
    if (gate.limits.action === "close") {
      const reason = RATE_LIMIT_REASON;
      this.failPeer(peer, Fail.overRate, CloseCode.PolicyViolation, reason, `${peer.role}: ${reason}`);
      return;
    }
    peer.socket.pause();
    gate.hold(waitMs, () => this.onGateOpen(peer));
  }

  /** The rate gate's wait is over: the held frames go (they may be held again), then reading resumes. */
  private onGateOpen(peer: Peer): void {
    peer.stream.release();
    if (peer.rate?.held === true || this.enforceBufferLimit()) return;
    if (!this.holdsBack(peer.other)) this.resumeReader(peer);
  }

  /**
   * Whether reading the peer that sends to `to` must wait until `to` drains. Not once `to` is gone or has been
   * sent its close between frames: from then on, what is read for it is dropped, and the reader must go on to
   * reach its own close frame.
   */
  private holdsBack(to: Peer): boolean {
    if (!to.socket.writable) return false;
    if (to.outbox.closing && !to.outbox.midFrame) return false;
    return to.socket.writableNeedDrain;
  }

  /** Resumes each reader whose partner no longer holds it back (a dead socket never emits the `drain` awaited). */
  private releaseReaders(): void {
    if (!this.holdsBack(this.backend)) this.resumeReader(this.client);
    if (!this.holdsBack(this.client)) this.resumeReader(this.backend);
  }

  /** Closes the session when the gateway holds more than `maxBufferedBytes` for it; true when it did. */
  private enforceBufferLimit(): boolean {
    const limit = this.options.maxBufferedBytes;
    if (limit < 0 || this.phase !== "open") return false;
    const forClient = this.client.outbox.bufferedBytes;
    const forBackend = this.backend.outbox.bufferedBytes;
    if (forClient + forBackend <= limit) return false;
    const slow = forClient >= forBackend ? this.client : this.backend;
    this.failPeer(
      slow,
      Fail.overLimit,
      CloseCode.PolicyViolation,
      BUFFER_LIMIT_REASON,
      `${slow.role}: ${BUFFER_LIMIT_REASON}`,
    );
    return true;
  }

  // ---- frames ----

  onControlFrame(stream: FrameStream, opcode: number, payload: Buffer): void {
    const from = stream === this.client.stream ? this.client : this.backend;
    const to = from.other;
    if (opcode === Opcode.Pong) {
      // Any pong shows the peer is alive; only pongs to our own pings stay here.
      from.awaitingPongSince = 0;
      if (isOwnPong(payload)) return;
      to.outbox.inject(encodeControlFrame(Opcode.Pong, payload, to.wantsMasked));
    } else if (opcode === Opcode.Ping) {
      to.outbox.inject(encodeControlFrame(Opcode.Ping, payload, to.wantsMasked));
    } else {
      this.onCloseFrame(from, payload);
    }
  }

  private onCloseFrame(from: Peer, payload: Buffer): void {
    const to = from.other;
    from.closeReceived = true;
    from.markClosing();
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : CloseCode.NoStatus;
    const reason = payload.length > 2 ? payload.toString("utf8", 2) : "";
    this.outcome ??= { closedBy: from.role, closeCode: code, closeReason: reason };
    if (to.pendingClose !== null) {
      // `to` broke the protocol and waited for this close: now it gets its own.
      this.sendPendingClose(to);
    } else if (!to.closeSent) {
      // The close is relayed as it came: same code, same reason, or none.
      to.outbox.injectClose(encodeControlFrame(Opcode.Close, payload, to.wantsMasked), false);
      to.markClosing();
    }
    this.beginClosing();
    if (from.closeSent) this.endPeer(from);
    if (to.closeReceived && to.closeSent) this.endPeer(to);
  }

  onFrameError(stream: FrameStream, failure: FrameFailureKind): void {
    const from = stream === this.client.stream ? this.client : this.backend;
    this.failPeer(from, Fail.protocolError, failure.closeCode, failure.reason, `${from.role}: ${failure.reason}`);
  }

  // ---- failing a peer: one path for every rule the gateway enforces ----

  /**
   * The gateway ends `peer` for breaking a rule: the session's outcome is recorded (the first one stands), the
   * peer gets `code` and `reason` (at once, or after the other side's close: `how.otherFirst`), and the other side
   * 1001 with `logReason`.
   */
  private failPeer(peer: Peer, how: FailHow, code: number, reason: string, logReason: string): void {
    const other = peer.other;
    this.outcome ??= { closedBy: "gateway", closeCode: code, closeReason: logReason };
    if (how.stopReading) peer.stream.stop();
    const close = encodeCloseFrame(code, reason, peer.wantsMasked);
    if (how.otherFirst && !other.gone && !other.closeReceived && !peer.closeSent && !peer.gone) {
      peer.pendingClose = close;
      peer.markClosing();
    } else {
      this.closeFailed(peer, close, how.cutMidFrame);
    }
    // A frame from the peer may be half written to the other side and will never end: only a cut can follow it.
    if (peer.stream.stopped && other.outbox.midFrame) this.cut(other);
    else this.sendClose(other, CloseCode.GoingAway, logReason);
    this.beginClosing();
  }

  /** Sends a failed peer its close, after which its connection is ended: its answer will not be read. */
  private closeFailed(peer: Peer, close: Buffer, cutMidFrame: boolean): void {
    peer.pendingClose = null;
    if (cutMidFrame && peer.outbox.midFrame) this.cut(peer);
    else peer.outbox.injectClose(close, true);
    peer.markClosing();
  }

  /** The close a protocol offender waited for: now (the other side's close came, it left, or time ran out). */
  private sendPendingClose(peer: Peer): void {
    const close = peer.pendingClose;
    if (close !== null) this.closeFailed(peer, close, Fail.protocolError.cutMidFrame);
  }

  private cut(peer: Peer): void {
    peer.socket.destroy();
    peer.markClosing();
  }

  // ---- peers leaving ----

  private onConnectionClosed(peer: Peer): void {
    this.onPeerGone(peer, true);
    peer.state = "closed";
    this.maybeFinish();
  }

  private onPeerGone(peer: Peer, broken: boolean): void {
    if (peer.gone) return;
    peer.gone = true;
    peer.pendingClose = null;
    peer.markClosing();
    peer.stream.stop();
    const other = peer.other;
    if (!peer.closeReceived) {
      // Vanished without a close frame: the other side still deserves one (its own, if it broke the protocol).
      const lost = PEER_LOST_CLOSE[peer.role];
      this.outcome ??= { closedBy: peer.role, closeCode: CloseCode.Abnormal, closeReason: lost.reason };
      const code = peer.role === "backend" ? (this.options.backendLostCode ?? lost.code) : lost.code;
      if (other.outbox.midFrame) this.cut(other);
      else this.sendClose(other, code, lost.reason);
    }
    // Its FIN came: nothing more to read from it, so one close() ends ours too (no shutdown first). A stream that
    // ended right after its close frame and can still be written to (an HTTP/2 stream: Chromium sends the two
    // together) is a half-close: the other side's close still goes to it, and endPeer ends it after.
    if (broken) peer.socket.destroy();
    else if (!peer.closeReceived || peer.closeSent || !writableAfterEnd(peer.socket)) closeWhenFlushed(peer.socket);
    this.beginClosing();
  }

  // ---- heartbeat and idleness ----

  // ---- the session's one check timer ----

  /** The due times of the periodic checks, from now; the timer for the first. */
  private startChecks(): void {
    const now = checkClock();
    if (this.options.pingInterval > 0) this.nextPingAt = now + this.options.pingInterval;
    if (this.options.maxInactivity > 0) this.idleDueAt = now + this.options.maxInactivity;
    if (this.options.frameTimeout > 0) this.frameCheckAt = now + this.frameCheckStep();
    this.scheduleChecks(now);
  }

  /** One check per session every half timeout, not a timer per frame: a frame is cut after 1 to 1.5 timeouts. */
  private frameCheckStep(): number {
    return Math.max(1, this.options.frameTimeout / 2);
  }

  /** Schedules the checks for the earliest due time (at least 1 ms from `now`), unless already scheduled for it. */
  private scheduleChecks(now: number): void {
    let due = Infinity;
    if (this.nextPingAt !== 0) due = this.nextPingAt;
    if (this.pongDueAt !== 0 && this.pongDueAt < due) due = this.pongDueAt;
    if (this.idleDueAt !== 0 && this.idleDueAt < due) due = this.idleDueAt;
    if (this.frameCheckAt !== 0 && this.frameCheckAt < due) due = this.frameCheckAt;
    if (due === Infinity) return;
    due = Math.max(due, now + 1);
    if (this.scheduleIndex >= 0 && this.scheduledAt === due) return;
    relayChecks.set(this, due);
  }

  /**
   * The check schedule's call, when the checks are due: runs each check that is due, in the order of the separate
   * timers they once were; stops once one closes the session.
   */
  onScheduled(now: number): void {
    if (this.frameCheckAt !== 0 && this.frameCheckAt <= now) {
      this.frameCheckAt = now + this.frameCheckStep();
      this.checkFrames();
      if (this.phase !== "open") return;
    }
    if (this.pongDueAt !== 0 && this.pongDueAt <= now) {
      this.checkPongs(now);
      if (this.phase !== "open") return;
    }
    if (this.nextPingAt !== 0 && this.nextPingAt <= now) {
      this.nextPingAt = now + this.options.pingInterval;
      this.pingBoth(now);
      if (this.phase !== "open") return;
    }
    if (this.idleDueAt !== 0 && this.idleDueAt <= now) {
      this.checkIdle(now);
      if (this.phase !== "open") return;
    }
    this.scheduleChecks(now);
  }

  private pingBoth(now: number): void {
    this.quietOrNot(this.client);
    this.quietOrNot(this.backend);
    this.pingPeer(this.client, now);
    this.pingPeer(this.backend, now);
    // A peer that reads nothing still gets a ping per interval: those bytes count against the limit too.
    if (this.enforceBufferLimit()) return;
    if (this.options.pongTimeout > 0 && this.pongDueAt === 0) this.pongDueAt = now + this.options.pongTimeout;
  }

  private pingPeer(peer: Peer, now: number): void {
    // A ping would wait behind the frame in flight to this peer, and the peer cannot answer what it has not
    // got: the next tick tries again, so the pong deadline only runs for pings that went out.
    if (peer.state !== "open" || peer.outbox.midFrame) return;
    peer.outbox.inject(peer.wantsMasked ? encodeControlFrame(Opcode.Ping, PING_PREFIX, true) : CLIENT_PING);
    if (peer.awaitingPongSince === 0) peer.awaitingPongSince = now;
  }

  private checkPongs(now: number): void {
    this.pongDueAt = 0;
    let nextDue = Infinity;
    for (const peer of [this.client, this.backend]) {
      // A peer the rate gate holds back cannot get its pong past the frames held before it.
      if (peer.awaitingPongSince === 0 || peer.state !== "open" || peer.stream.holding) continue;
      const due = peer.awaitingPongSince + this.options.pongTimeout;
      if (due <= now) {
        this.failPeer(peer, Fail.unresponsive, CloseCode.GoingAway, "ping timeout", `${peer.role} did not answer ping`);
        return;
      }
      nextDue = Math.min(nextDue, due);
    }
    if (nextDue !== Infinity) this.pongDueAt = nextDue;
  }

  private checkIdle(now: number): void {
    // The streams keep ms since epoch (their snapshots cross processes); `now` is on the checks' clock.
    const lastData = Math.max(this.startedAt, this.client.stream.lastDataAt, this.backend.stream.lastDataAt);
    const remaining = lastData - CHECK_CLOCK_ORIGIN + this.options.maxInactivity - now;
    if (remaining > 0) {
      this.idleDueAt = now + remaining;
      return;
    }
    this.idleDueAt = 0;
    this.closeBoth(CloseCode.GoingAway, "idle timeout");
  }

  private checkFrames(): void {
    for (const peer of [this.client, this.backend]) {
      const stream = peer.stream;
      // A sender the gateway does not read (backpressure, a rate pause) cannot finish its frame: not its fault.
      if (!stream.frameOpen || peer.socket.isPaused()) {
        peer.openFrameMark = -1;
        peer.openFrameChecks = 0;
      } else if (peer.openFrameMark !== stream.framesDone) {
        peer.openFrameMark = stream.framesDone;
        peer.openFrameChecks = 1;
      } else if (++peer.openFrameChecks >= 3) {
        // Seen open at three checks half a timeout apart: open for at least the whole timeout.
        this.failPeer(
          peer,
          Fail.frameStalled,
          CloseCode.PolicyViolation,
          "frame timeout",
          `${peer.role}: frame not completed in time`,
        );
        return;
      }
    }
  }

  // ---- closing ----

  private closeBoth(code: number, reason: string, backendCode = code): void {
    this.outcome ??= { closedBy: "gateway", closeCode: code, closeReason: reason };
    this.sendClose(this.client, code, reason);
    this.sendClose(this.backend, backendCode, reason);
    this.beginClosing();
  }

  /** Sends `peer` a close it is to answer; a protocol offender gets the close it was waiting for instead. */
  private sendClose(peer: Peer, code: number, reason: string): void {
    if (peer.closeSent || peer.gone) return;
    if (peer.pendingClose !== null) {
      this.sendPendingClose(peer);
      return;
    }
    peer.outbox.injectClose(encodeCloseFrame(code, reason, peer.wantsMasked), false);
    peer.markClosing();
  }

  /**
   * Both close frames have crossed for this peer. The server side closes TCP first (RFC 6455 7.1.1), so that the
   * TIME_WAIT state stays with the server: the gateway ends the client's connection now, and waits for the backend
   * to end its own (its FIN ends ours in `onPeerGone`; `closeTimeout` bounds the wait). Ending backend connections
   * first would leave one TIME_WAIT socket on the gateway per session, and at a few thousand sessions a second
   * to one backend its ephemeral ports would run out. One close() of the client's connection, as nginx does, not
   * shutdown() then close() (relay-close.ts).
   */
  private endPeer(peer: Peer): void {
    if (peer.role === "client") closeWhenFlushed(peer.socket);
  }

  private stopTimers(): void {
    relayChecks.clear(this);
    this.nextPingAt = this.pongDueAt = this.idleDueAt = this.frameCheckAt = this.scheduledAt = 0;
    this.deadline?.stop();
  }

  private beginClosing(): void {
    if (this.phase === "open") this.phase = "closing";
    this.stopTimers();
    // A closure made when closing begins, not an arrow field: an idle session keeps none for a timer it has not set.
    this.closeTimer ??= setTimeout(() => this.onCloseTimeout(), this.options.closeTimeout);
    // Closing: rates no longer hold anyone back, each side must reach its close frame.
    this.client.rate?.stop();
    this.backend.rate?.stop();
    this.client.stream.release();
    this.backend.stream.release();
    this.releaseReaders();
  }

  private onCloseTimeout(): void {
    this.closeTimer = undefined;
    const offender =
      this.client.pendingClose !== null ? this.client : this.backend.pendingClose !== null ? this.backend : null;
    if (offender === null) {
      this.cutBoth();
      return;
    }
    // The other side never answered the close it was sent first: it is cut, and the protocol offender gets its
    // close after all, with one more closeTimeout to take it (its pending close is sent: the next call cuts both).
    this.sendPendingClose(offender);
    this.cut(offender.other);
    this.closeTimer = setTimeout(() => this.onCloseTimeout(), this.options.closeTimeout);
  }

  // A method, not an arrow field: a field would cost every session a closure for a timer that rarely runs.
  private cutBoth(): void {
    this.cut(this.client);
    this.cut(this.backend);
  }

  private maybeFinish(): void {
    if (this.phase === "finished" || this.phase === "detached") return;
    if (this.client.state !== "closed" || this.backend.state !== "closed") return;
    this.phase = "finished";
    clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.stopTimers();
    const outcome = this.outcome ?? { closedBy: "gateway", closeCode: CloseCode.Abnormal, closeReason: "" };
    // Written out, not spread: on Node 20 an object made by spreading gets a map of its own each time, and every
    // reader of it then misses its inline cache.
    const { fromClient, fromBackend } = this.totals();
    const ended: RelayOutcome = {
      closedBy: outcome.closedBy,
      closeCode: outcome.closeCode,
      closeReason: outcome.closeReason,
      durationMs: Date.now() - this.startedAt,
      fromClient,
      fromBackend,
    };
    if (typeof this.onEnd === "function") this.onEnd(ended);
    else this.onEnd.relayEnded(ended);
  }
}
