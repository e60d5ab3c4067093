import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type { FrameFailureKind } from "./frame-error.js";
import { FrameOutbox, endOnce } from "./frame-outbox.js";
import { FrameStream, type FrameStreamHandler } from "./frame-stream.js";
import { encodeCloseFrame, encodeControlFrame } from "./frame-writer.js";
import { CloseCode, Opcode } from "./protocol.js";
import type { RateGate } from "./rate-gate.js";
import { READ_BUFFER_SIZE, canReadIntoBuffer, readIntoBuffer } from "./socket-reader.js";

/** After this many reads through its stream, a peer's socket is read into a buffer of the relay's (socket-reader). */
const BUSY_READS = 8;

export type PeerRole = "client" | "backend";

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
  /** How long the close handshake may take before the TCP connections are cut (ms). */
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
  /** Message and byte rate of what the client sends (`clientMaxMsgRate`, `clientMaxByteRate`); none when absent. */
  clientRate?: RateGate;
  /** Message and byte rate of what the backend sends (`serverMaxMsgRate`, `serverMaxByteRate`). */
  backendRate?: RateGate;
}

export interface PeerTotals {
  messages: number;
  bytes: number;
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

/** Close code the remaining side gets when its partner vanished without a close frame. */
const PEER_LOST_CLOSE: Record<PeerRole, { code: number; reason: string }> = {
  client: { code: CloseCode.GoingAway, reason: "client went away" },
  backend: { code: CloseCode.InternalError, reason: "backend connection lost" },
};

class Peer {
  readonly outbox: FrameOutbox;
  stream!: FrameStream;
  closeReceived = false;
  gone = false;
  socketClosed = false;
  /** When the oldest unanswered ping of ours was sent (ms), 0 when none is outstanding. */
  awaitingPongSince = 0;
  /** Reads through the socket's stream so far, up to BUSY_READS. */
  streamReads = 0;
  /** The buffer the socket reads into, once switched to reading into buffers of the relay's. */
  readBuffer: Buffer | null = null;
  /** `stream.framesDone` when a frame was last seen open at a frame check, -1 when none was. */
  openFrameMark = -1;
  /** Frame checks in a row that found that same frame open. */
  openFrameChecks = 0;

  constructor(
    readonly role: PeerRole,
    readonly socket: Socket,
  ) {
    this.outbox = new FrameOutbox(socket);
  }

  get closeSent(): boolean {
    return this.outbox.closing;
  }

  /** Frames to a backend are masked: the gateway is its client. */
  get wantsMasked(): boolean {
    return this.role === "backend";
  }
}

/**
 * A WebSocket session between a client and a backend after both handshakes. Frames flow through as a stream in
 * both directions; the gateway adds its own pings, enforces limits and timeouts, and carries the close handshake
 * across, ending TCP only when both sides are done or the close timeout runs out.
 */
export class WebSocketRelay implements FrameStreamHandler {
  private readonly client: Peer;
  private readonly backend: Peer;
  private readonly startedAt = Date.now();
  private pingTimer: NodeJS.Timeout | undefined;
  private pongTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private frameTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private outcome: Pick<RelayOutcome, "closedBy" | "closeCode" | "closeReason"> | undefined;
  private finished = false;

  constructor(
    clientSocket: Socket,
    backendSocket: Socket,
    private readonly options: RelayOptions,
    private readonly onEnd: (outcome: RelayOutcome) => void,
  ) {
    this.client = new Peer("client", clientSocket);
    this.backend = new Peer("backend", backendSocket);
    const trackActivity = options.maxInactivity > 0;
    this.client.stream = new FrameStream(
      {
        fromClient: true,
        maxMessageSize: options.clientMaxMessageSize,
        firstFrameRsv: options.firstFrameRsv,
        anyRsv: options.anyRsv,
        trackActivity,
      },
      this.backend.outbox,
      this,
    );
    this.backend.stream = new FrameStream(
      {
        fromClient: false,
        maxMessageSize: options.backendMaxMessageSize,
        firstFrameRsv: options.firstFrameRsv,
        anyRsv: options.anyRsv,
        trackActivity,
      },
      this.client.outbox,
      this,
    );
  }

  /** Starts relaying; `clientHead` and `backendHead` are bytes each side sent right after its handshake. */
  start(clientHead: Buffer, backendHead: Buffer): void {
    const client = this.client.socket;
    const backend = this.backend.socket;
    for (const socket of [client, backend]) {
      socket.setNoDelay(true);
      socket.setTimeout(0);
    }
    client.on("data", this.onClientData);
    backend.on("data", this.onBackendData);
    client.on("drain", this.onClientDrain);
    backend.on("drain", this.onBackendDrain);
    client.on("end", this.onClientEnd);
    backend.on("end", this.onBackendEnd);
    client.on("error", this.onClientError);
    backend.on("error", this.onBackendError);
    client.on("close", this.onClientClose);
    backend.on("close", this.onBackendClose);

    if (this.options.pingInterval > 0) this.pingTimer = setInterval(this.onPingTick, this.options.pingInterval);
    if (this.options.maxInactivity > 0) this.idleTimer = setTimeout(this.onIdleCheck, this.options.maxInactivity);
    // One check per session every half timeout, not a timer per frame: a frame is cut after 1 to 1.5 timeouts.
    if (this.options.frameTimeout > 0) {
      this.frameTimer = setInterval(this.onFrameCheck, Math.max(1, this.options.frameTimeout / 2));
    }

    if (backendHead.length > 0) this.onBackendData(backendHead);
    if (clientHead.length > 0) this.onClientData(clientHead);
    this.releaseReaders();
  }

  /** Live totals, for status views. */
  totals(): { fromClient: PeerTotals; fromBackend: PeerTotals } {
    return {
      fromClient: { messages: this.client.stream.messages, bytes: this.client.stream.bytes },
      fromBackend: { messages: this.backend.stream.messages, bytes: this.backend.stream.bytes },
    };
  }

  /** Closes both sides with one code, as the gateway (shutdown, an operator). */
  close(code: number, reason: string): void {
    this.closeBoth(code, reason);
  }

  /** Cuts both TCP connections without a close handshake. */
  terminate(): void {
    this.onCloseTimeout();
  }

  // ---- data and backpressure ----

  private readonly onClientData = (chunk: Buffer): void => {
    if (++this.client.streamReads === BUSY_READS) this.readIntoBuffers(this.client);
    this.afterRead(this.client, this.backend, chunk);
  };

  private readonly onBackendData = (chunk: Buffer): void => {
    if (++this.backend.streamReads === BUSY_READS) this.readIntoBuffers(this.backend);
    this.afterRead(this.backend, this.client, chunk);
  };

  private afterRead(from: Peer, to: Peer, chunk: Buffer): void {
    this.receive(from, chunk);
    if (!this.enforceBufferLimit() && this.holdsBack(to)) from.socket.pause();
    this.gateReading(from, chunk.length);
  }

  /** A chunk read into `from.readBuffer`: the same as `data`, but views of it must not outlive the call. */
  private onBufferedRead(from: Peer, to: Peer, chunk: Buffer): void {
    to.outbox.borrowed = true;
    try {
      this.afterRead(from, to, chunk);
    } finally {
      to.outbox.borrowed = false;
    }
    if (to.outbox.lent) {
      // A write still points into the buffer: the next read goes into a new one.
      to.outbox.lent = false;
      from.readBuffer = Buffer.allocUnsafe(READ_BUFFER_SIZE);
    }
  }

  /** A busy peer: from a later turn of the event loop (never inside one of its reads), read into a reused buffer. */
  private readIntoBuffers(from: Peer): void {
    if (!canReadIntoBuffer(from.socket)) return;
    const to = from === this.client ? this.backend : this.client;
    setImmediate(() => {
      if (from.gone || from.stream.stopped || this.outcome !== undefined) return;
      const buffer = Buffer.allocUnsafe(READ_BUFFER_SIZE);
      const switched = readIntoBuffer(
        from.socket,
        buffer,
        (chunk) => this.onBufferedRead(from, to, chunk),
        () => from.readBuffer ?? buffer,
      );
      if (switched) from.readBuffer = buffer;
    });
  }

  private receive(from: Peer, chunk: Buffer): void {
    const inFrame = from.stream.inDataFrame;
    from.stream.push(chunk);
    // A peer in the middle of a frame cannot answer a ping until the frame ends; its bytes show it is alive.
    if (inFrame || from.stream.inDataFrame) from.awaitingPongSince = 0;
  }

  // ---- message and byte rates ----

  private gateOf(peer: Peer): RateGate | undefined {
    return peer === this.client ? this.options.clientRate : this.options.backendRate;
  }

  /** Resumes reading `peer` unless its rate gate holds it (the gate's timer resumes it then). */
  private resumeReader(peer: Peer): void {
    if (this.gateOf(peer)?.held !== true) peer.socket.resume();
  }

  /** After a chunk from `peer`: over its rate, reading pauses until the debt is paid off (or, `close`, 1008). */
  private gateReading(peer: Peer, bytes: number): void {
    const gate = this.gateOf(peer);
    if (gate === undefined || this.outcome !== undefined) return;
    const waitMs = gate.admit(bytes, peer.stream.messages);
    if (waitMs <= 0) return;
    const other = peer === this.client ? this.backend : this.client;
    if (gate.limits.action === "close") {
      const reason = "message rate exceeded";
      this.outcome = {
        closedBy: "gateway",
        closeCode: CloseCode.PolicyViolation,
        closeReason: `${peer.role}: ${reason}`,
      };
      if (peer.outbox.midFrame) peer.socket.destroy();
      else peer.outbox.injectClose(encodeCloseFrame(CloseCode.PolicyViolation, reason, peer.wantsMasked), true);
      this.sendClose(other, CloseCode.GoingAway, `${peer.role}: ${reason}`);
      this.beginClosing();
      return;
    }
    peer.socket.pause();
    gate.hold(waitMs, () => {
      if (!this.holdsBack(other)) peer.socket.resume();
    });
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
    if (limit < 0 || this.outcome !== undefined) return false;
    const forClient = this.client.outbox.bufferedBytes;
    const forBackend = this.backend.outbox.bufferedBytes;
    if (forClient + forBackend <= limit) return false;
    const slow = forClient >= forBackend ? this.client : this.backend;
    const reason = `${slow.role}: ${BUFFER_LIMIT_REASON}`;
    this.outcome = { closedBy: "gateway", closeCode: CloseCode.PolicyViolation, closeReason: reason };
    // Inside a frame there is no room for a close frame: the slow peer is cut, as if it had vanished.
    if (slow.outbox.midFrame) slow.socket.destroy();
    else {
      const close = encodeCloseFrame(CloseCode.PolicyViolation, BUFFER_LIMIT_REASON, slow.wantsMasked);
      slow.outbox.injectClose(close, true);
    }
    this.sendClose(slow === this.client ? this.backend : this.client, CloseCode.GoingAway, reason);
    this.beginClosing();
    return true;
  }

  private readonly onClientDrain = (): void => {
    this.resumeReader(this.backend);
  };

  private readonly onBackendDrain = (): void => {
    this.resumeReader(this.client);
  };

  // ---- frames ----

  onControlFrame(stream: FrameStream, opcode: number, payload: Buffer): void {
    const from = stream === this.client.stream ? this.client : this.backend;
    const to = from === this.client ? this.backend : this.client;
    if (opcode === Opcode.Pong) {
      // Any pong shows the peer is alive; only pongs to our own pings stay here.
      from.awaitingPongSince = 0;
      if (isOwnPong(payload)) return;
      to.outbox.inject(encodeControlFrame(Opcode.Pong, payload, to.wantsMasked));
    } else if (opcode === Opcode.Ping) {
      to.outbox.inject(encodeControlFrame(Opcode.Ping, payload, to.wantsMasked));
    } else {
      this.onCloseFrame(from, to, payload);
    }
  }

  private onCloseFrame(from: Peer, to: Peer, payload: Buffer): void {
    from.closeReceived = true;
    const code = payload.length >= 2 ? payload.readUInt16BE(0) : CloseCode.NoStatus;
    const reason = payload.length > 2 ? payload.toString("utf8", 2) : "";
    this.outcome ??= { closedBy: from.role, closeCode: code, closeReason: reason };
    if (!to.closeSent) {
      // The close is relayed as it came: same code, same reason, or none.
      to.outbox.injectClose(encodeControlFrame(Opcode.Close, payload, to.wantsMasked), false);
    }
    this.beginClosing();
    if (from.closeSent) this.endPeer(from);
    if (to.closeReceived && to.closeSent) this.endPeer(to);
  }

  onFrameError(stream: FrameStream, failure: FrameFailureKind): void {
    const from = stream === this.client.stream ? this.client : this.backend;
    const to = from === this.client ? this.backend : this.client;
    this.outcome ??= {
      closedBy: "gateway",
      closeCode: failure.closeCode,
      closeReason: `${from.role}: ${failure.reason}`,
    };
    // The offender's later bytes cannot be trusted, so its answer is not awaited.
    from.outbox.injectClose(encodeCloseFrame(failure.closeCode, failure.reason, from.wantsMasked), true);
    this.sendClose(to, CloseCode.GoingAway, `${from.role}: ${failure.reason}`);
    this.beginClosing();
  }

  // ---- peers leaving ----

  private readonly onClientEnd = (): void => this.onPeerGone(this.client, false);
  private readonly onBackendEnd = (): void => this.onPeerGone(this.backend, false);
  private readonly onClientError = (): void => this.onPeerGone(this.client, true);
  private readonly onBackendError = (): void => this.onPeerGone(this.backend, true);

  private readonly onClientClose = (): void => {
    this.client.socketClosed = true;
    this.onPeerGone(this.client, true);
    this.maybeFinish();
  };

  private readonly onBackendClose = (): void => {
    this.backend.socketClosed = true;
    this.onPeerGone(this.backend, true);
    this.maybeFinish();
  };

  private onPeerGone(peer: Peer, broken: boolean): void {
    if (peer.gone) return;
    peer.gone = true;
    peer.stream.stop();
    const other = peer === this.client ? this.backend : this.client;
    if (!peer.closeReceived) {
      // Vanished without a close frame: the other side still deserves one.
      const lost = PEER_LOST_CLOSE[peer.role];
      this.outcome ??= { closedBy: peer.role, closeCode: CloseCode.Abnormal, closeReason: lost.reason };
      if (other.outbox.midFrame) other.socket.destroy();
      else this.sendClose(other, lost.code, lost.reason);
    }
    if (broken) peer.socket.destroy();
    else endOnce(peer.socket);
    this.beginClosing();
  }

  // ---- heartbeat and idleness ----

  private readonly onPingTick = (): void => {
    const now = Date.now();
    for (const peer of [this.client, this.backend]) {
      // A ping would wait behind the frame in flight to this peer, and the peer cannot answer what it has not
      // got: the next tick tries again, so the pong deadline only runs for pings that went out.
      if (peer.closeSent || peer.gone || peer.outbox.midFrame) continue;
      peer.outbox.inject(peer.wantsMasked ? encodeControlFrame(Opcode.Ping, PING_PREFIX, true) : CLIENT_PING);
      if (peer.awaitingPongSince === 0) peer.awaitingPongSince = now;
    }
    // A peer that reads nothing still gets a ping per interval: those bytes count against the limit too.
    if (this.enforceBufferLimit()) return;
    if (this.options.pongTimeout > 0 && this.pongTimer === undefined) {
      this.pongTimer = setTimeout(this.onPongDeadline, this.options.pongTimeout);
    }
  };

  private readonly onPongDeadline = (): void => {
    this.pongTimer = undefined;
    const now = Date.now();
    let nextDue = Infinity;
    for (const peer of [this.client, this.backend]) {
      if (peer.awaitingPongSince === 0 || peer.closeSent || peer.gone) continue;
      const due = peer.awaitingPongSince + this.options.pongTimeout;
      if (due <= now) {
        this.onPeerUnresponsive(peer);
        return;
      }
      nextDue = Math.min(nextDue, due);
    }
    if (nextDue !== Infinity) this.pongTimer = setTimeout(this.onPongDeadline, nextDue - now);
  };

  private onPeerUnresponsive(peer: Peer): void {
    const other = peer === this.client ? this.backend : this.client;
    const reason = `${peer.role} did not answer ping`;
    this.outcome ??= { closedBy: "gateway", closeCode: CloseCode.GoingAway, closeReason: reason };
    peer.outbox.injectClose(encodeCloseFrame(CloseCode.GoingAway, "ping timeout", peer.wantsMasked), true);
    this.sendClose(other, CloseCode.GoingAway, reason);
    this.beginClosing();
  }

  private readonly onIdleCheck = (): void => {
    const lastData = Math.max(this.startedAt, this.client.stream.lastDataAt, this.backend.stream.lastDataAt);
    const remaining = lastData + this.options.maxInactivity - Date.now();
    if (remaining > 0) {
      this.idleTimer = setTimeout(this.onIdleCheck, remaining);
      return;
    }
    this.idleTimer = undefined;
    this.closeBoth(CloseCode.GoingAway, "idle timeout");
  };

  private readonly onFrameCheck = (): void => {
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
        this.onFrameStalled(peer);
        return;
      }
    }
  };

  private onFrameStalled(peer: Peer): void {
    const other = peer === this.client ? this.backend : this.client;
    const reason = `${peer.role}: frame not completed in time`;
    this.outcome ??= { closedBy: "gateway", closeCode: CloseCode.PolicyViolation, closeReason: reason };
    peer.stream.stop();
    if (peer.outbox.midFrame) peer.socket.destroy();
    else peer.outbox.injectClose(encodeCloseFrame(CloseCode.PolicyViolation, "frame timeout", peer.wantsMasked), true);
    // The other side may hold the start of the stalled frame: no close frame can follow that, only the end of TCP.
    if (other.outbox.midFrame) other.socket.destroy();
    else this.sendClose(other, CloseCode.GoingAway, reason);
    this.beginClosing();
  }

  // ---- closing ----

  private closeBoth(code: number, reason: string): void {
    this.outcome ??= { closedBy: "gateway", closeCode: code, closeReason: reason };
    this.sendClose(this.client, code, reason);
    this.sendClose(this.backend, code, reason);
    this.beginClosing();
  }

  private sendClose(peer: Peer, code: number, reason: string): void {
    if (peer.closeSent || peer.gone) return;
    peer.outbox.injectClose(encodeCloseFrame(code, reason, peer.wantsMasked), false);
  }

  /**
   * Both close frames have crossed for this peer. The server side closes TCP first (RFC 6455 7.1.1), so that the
   * TIME_WAIT state stays with the server: the gateway ends the client's connection now, and waits for the backend
   * to end its own (its FIN ends ours in `onPeerGone`; `closeTimeout` bounds the wait). Ending backend connections
   * first would leave one TIME_WAIT socket on the gateway per session, and at a few thousand sessions a second
   * to one backend its ephemeral ports would run out.
   */
  private endPeer(peer: Peer): void {
    if (peer.role === "client") endOnce(peer.socket);
  }

  private beginClosing(): void {
    clearInterval(this.frameTimer);
    this.frameTimer = undefined;
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.idleTimer);
    this.pingTimer = this.pongTimer = this.idleTimer = undefined;
    this.closeTimer ??= setTimeout(this.onCloseTimeout, this.options.closeTimeout);
    // Closing: rates no longer hold anyone back, each side must reach its close frame.
    this.options.clientRate?.stop();
    this.options.backendRate?.stop();
    this.releaseReaders();
  }

  private readonly onCloseTimeout = (): void => {
    this.client.socket.destroy();
    this.backend.socket.destroy();
  };

  private maybeFinish(): void {
    if (this.finished || !this.client.socketClosed || !this.backend.socketClosed) return;
    this.finished = true;
    clearTimeout(this.closeTimer);
    clearInterval(this.frameTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.idleTimer);
    const outcome = this.outcome ?? { closedBy: "gateway", closeCode: CloseCode.Abnormal, closeReason: "" };
    // Written out, not spread: on Node 20 an object made by spreading gets a map of its own each time, and every
    // reader of it then misses its inline cache.
    const { fromClient, fromBackend } = this.totals();
    this.onEnd({
      closedBy: outcome.closedBy,
      closeCode: outcome.closeCode,
      closeReason: outcome.closeReason,
      durationMs: Date.now() - this.startedAt,
      fromClient,
      fromBackend,
    });
  }
}
