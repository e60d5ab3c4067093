import { isUtf8 } from "node:buffer";
import { FrameFailure, type FrameFailureKind } from "./frame-error.js";
import type { FrameOutbox } from "./frame-outbox.js";
import type { MessageTally } from "../util/message-tally.js";
import type { FramePolicy, FramePolicySnapshot } from "./frame-policy.js";
import { CollectedFrame, type MessageInspector } from "./message-inspector.js";
import { MAX_CONTROL_PAYLOAD, MAX_HEADER_BYTES, Opcode, isValidWireCloseCode } from "./protocol.js";

/**
 * What the stream reports to the relay; payloads are unmasked views, valid only during the call and until the
 * handler makes a stream parse again (`release()`): a control payload may sit in space every stream shares.
 */
export interface FrameStreamHandler {
  onControlFrame(stream: FrameStream, opcode: number, payload: Buffer): void;
  onFrameError(stream: FrameStream, failure: FrameFailureKind): void;
  /**
   * A data frame is about to be relayed (asked only where `gateDataFrames` is set): 0 lets it go (its tokens are
   * taken); else how long (ms) it must wait, and `onFrameHeld` follows.
   */
  onDataFrame(stream: FrameStream, messageStart: boolean, frameBytes: number): number;
  /**
   * The data frame asked about waits: what came before it has been written on, and unless the handler stops the
   * stream now, the stream holds that frame and all after it until `release()`.
   */
  onFrameHeld(stream: FrameStream, waitMs: number): void;
}

export interface FrameStreamOptions {
  /** Frames from a client are masked; frames from a server are not (RFC 6455 §5.1). */
  fromClient: boolean;
  /** The most payload bytes one message may carry over all its fragments; -1 for no limit. */
  maxMessageSize: number;
  /** RSV bits the negotiated extensions allow on a message's first frame (0x40 for permessage-deflate). */
  firstFrameRsv: number;
  /** An extension we do not know was negotiated: its use of RSV bits cannot be checked. */
  anyRsv: boolean;
  /** Record the time of each data frame, for idle timeouts. */
  trackActivity: boolean;
  /** Where each message's size and frame count, and each control frame, are counted (the route's histograms). */
  tally?: MessageTally | undefined;
  /** Ask the handler before relaying each data frame (`onDataFrame`): a message or byte rate is set. */
  gateDataFrames: boolean;
  /** Limits on the peer's frames beyond the protocol; null where none is set (nothing checked per frame). */
  policy: FramePolicy | null;
  /** Small whole text messages are gathered and shown to it before they are relayed; none: nothing is gathered. */
  inspector?: MessageInspector | undefined;
}

/** One direction's progress at a frame boundary, as plain data (see WebSocketRelay.snapshot). */
export interface FrameStreamSnapshot {
  messages: number;
  bytes: number;
  lastDataAt: number;
  framesDone: number;
  /**
   * The fragmented message in progress (its payload bytes so far, for the size limit; its frames so far, for the
   * metrics), or null between messages.
   */
  messageInProgress: { bytes: number; frames?: number } | null;
  /** Payload bytes of the largest message so far (absent in snapshots of older builds). */
  largestMessage?: number;
  /** The frame limits' state (fragments of the message under way, control frame bucket), where limits are set. */
  policy?: FramePolicySnapshot;
}

const State = {
  Header: 0,
  Payload: 1,
  Control: 2,
  Discard: 3,
  /** A small text message gathered whole for the inspector. */
  Collect: 4,
} as const;
type StateValue = (typeof State)[keyof typeof State];

/** beginFrame's answer when the rate gate holds the frame (not a failure). */
const HOLD = Symbol("hold");

const CONTROL_START = MAX_HEADER_BYTES;
const MASK_START = CONTROL_START + MAX_CONTROL_PAYLOAD;
const SCRATCH_SIZE = MASK_START + 4;

/**
 * Scratch space of every stream whose frame is read whole within one `push` (a pong, a close): streams parse one at
 * a time, so an idle session's two streams hold none of their own. A stream keeps a copy of its own only while a
 * header or a control frame waits for its next read (`keepScratch`).
 */
const SHARED_SCRATCH = Buffer.allocUnsafeSlow(SCRATCH_SIZE);

/** Header length for a frame whose second byte is `b1`. */
function headerLength(b1: number): number {
  const length7 = b1 & 0x7f;
  return 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

/**
 * One direction of the relay. It parses frame headers, checks them, and passes data frames on as slices of the
 * chunks it was given: the payload is neither copied nor unmasked. Control frames (at most 125 bytes) are
 * collected and handed to the relay, which forwards, answers or swallows them.
 */
export class FrameStream {
  /** Data messages completed. */
  messages = 0;
  /** Bytes received from the peer, headers included. */
  bytes = 0;
  /** Time of the last data frame (ms since epoch), when tracked. */
  lastDataAt = 0;
  /** Frames (data and control) read to their end; with `frameOpen`, tells the relay whether one is stuck. */
  framesDone = 0;
  /** Payload bytes of the largest data message completed (all its fragments), for the session's log line. */
  largestMessage = 0;

  private state: StateValue = State.Header;
  /**
   * Scratch space of its own, made when a header or a control frame is split across reads (else the shared one):
   * a split header at [0, HEADER_END), a control payload at [CONTROL_START, CONTROL_END), its mask key at
   * [MASK_START, SCRATCH_SIZE).
   */
  private scratchSpace: Buffer | null = null;
  private headerHave = 0;

  // The frame being read.
  private fin = false;
  private opcode = 0;
  private remaining = 0;
  private forwarding = false;
  private controlLength = 0;
  private controlHave = 0;
  private controlMasked = false;

  // The message being read: its payload bytes and frames so far, the current frame included.
  private inMessage = false;
  private messageBytes = 0;
  private messageFrames = 0;
  /** The message gathered for the inspector (State.Collect). */
  private collected: CollectedFrame | null = null;

  // Start, in the current chunk, of bytes to pass on unchanged; -1 when none.
  private passStart = -1;
  /** A data frame began in the chunk being read (its time is taken once per chunk, not per frame). */
  private sawData = false;
  /**
   * Bytes read from the peer and not yet parsed, from a frame header on: held while the rate gate says wait, a
   * copy (a read buffer may be reused), parsed again by `release()`.
   */
  private heldBytes: Buffer | null = null;
  /** `release()` is parsing the held bytes: a buffer of the stream's own, not a socket's. */
  private releasing = false;
  /** A frame policy or a rate applies: each frame header is checked against them. */
  private readonly guarded: boolean;
  /** Being brought to rest for a hand-over: every byte from the next frame's first on is held (relay-settle.ts). */
  private holdAtFrameStart = false;

  constructor(
    private readonly options: FrameStreamOptions,
    private readonly out: FrameOutbox,
    private readonly handler: FrameStreamHandler,
  ) {
    this.guarded = options.policy !== null || options.gateDataFrames;
  }

  private get scratch(): Buffer {
    return this.scratchSpace ?? SHARED_SCRATCH;
  }

  /** A read ended inside a header or a control frame: what was gathered in the shared space moves to its own. */
  private keepScratch(): void {
    if (this.scratchSpace === null && (this.headerHave > 0 || this.state === State.Control)) {
      this.scratchSpace = Buffer.from(SHARED_SCRATCH);
    }
  }

  /** Whether a close frame or an error ended this direction. */
  get stopped(): boolean {
    return this.state === State.Discard;
  }

  /** Whether the peer is in the middle of a data frame's payload (and so cannot send a control frame now). */
  get inDataFrame(): boolean {
    return this.state === State.Payload || this.state === State.Collect;
  }

  /** Whether a data message has begun and not ended (a frame of the gateway's own may not go between its frames). */
  get messageOpen(): boolean {
    return this.inMessage || this.state === State.Payload;
  }

  /** Whether part of a frame (some of its header, or of its payload) has arrived and the rest has not. */
  get frameOpen(): boolean {
    return (
      this.state === State.Payload ||
      this.state === State.Control ||
      this.state === State.Collect ||
      this.headerHave > 0
    );
  }

  /** Between two frames: no part of a frame is held, so the direction can be captured and resumed elsewhere. */
  get atFrameBoundary(): boolean {
    return this.state === State.Header && this.headerHave === 0 && this.heldBytes === null;
  }

  /** Bytes wait in the stream for the rate gate (`release()` parses them). */
  get holding(): boolean {
    return this.heldBytes !== null;
  }

  /** Parses the bytes held back, from the frame that was held; it may be held again. */
  release(): void {
    const held = this.heldBytes;
    if (held === null) return;
    this.heldBytes = null;
    if (this.state === State.Discard) return;
    // Counted when they were read.
    this.bytes -= held.length;
    this.releasing = true;
    try {
      this.push(held);
    } finally {
      this.releasing = false;
    }
  }

  /** This direction's progress, at a frame boundary (`atFrameBoundary`). */
  snapshot(): FrameStreamSnapshot {
    return {
      messages: this.messages,
      bytes: this.bytes,
      lastDataAt: this.lastDataAt,
      framesDone: this.framesDone,
      messageInProgress: this.inMessage ? { bytes: this.messageBytes, frames: this.messageFrames } : null,
      largestMessage: this.largestMessage,
      ...(this.options.policy !== null ? { policy: this.options.policy.snapshot() } : {}),
    };
  }

  /** Takes up a direction captured by `snapshot()` (on a fresh stream, before any byte). */
  restore(snapshot: FrameStreamSnapshot): void {
    this.messages = snapshot.messages;
    this.bytes = snapshot.bytes;
    this.lastDataAt = snapshot.lastDataAt;
    this.framesDone = snapshot.framesDone;
    this.inMessage = snapshot.messageInProgress !== null;
    this.messageBytes = snapshot.messageInProgress?.bytes ?? 0;
    this.messageFrames = snapshot.messageInProgress?.frames ?? 0;
    this.largestMessage = snapshot.largestMessage ?? 0;
    if (snapshot.policy !== undefined) this.options.policy?.restore(snapshot.policy);
  }

  /**
   * Holds every byte from the next frame on (now, between frames), unparsed, until `settleOff()`: a direction
   * brought to rest for a hand-over. A fragmented message may stay open: its next frame is held like any other.
   */
  settleOn(): void {
    this.holdAtFrameStart = true;
  }

  /** Parses again: what was held goes on first (it may be held by the rate gate again). */
  settleOff(): void {
    this.holdAtFrameStart = false;
    this.release();
  }

  /** Between two frames, whether or not bytes of later frames are held: where a settled direction rests. */
  get atFrameStart(): boolean {
    return this.state === State.Header && this.headerHave === 0;
  }

  /** The bytes held (read from the peer, not parsed: they begin with a frame's first byte), or null. */
  get heldView(): Buffer | null {
    return this.heldBytes;
  }

  private holdFrom(chunk: Buffer, pos: number): void {
    // What came before the next frame goes on now; from its first byte on, a copy is kept (read buffers are reused).
    this.flushPass(chunk, pos);
    this.heldBytes = this.releasing ? chunk.subarray(pos) : Buffer.from(chunk.subarray(pos));
  }

  /** Stops reading frames: every later byte is dropped. */
  stop(): void {
    this.state = State.Discard;
  }

  push(chunk: Buffer): void {
    if (this.state === State.Discard) return;
    if (this.heldBytes !== null) {
      // Read after the hold began (the peer's socket pauses only from the next read): in order, behind them.
      this.bytes += chunk.length;
      this.heldBytes = Buffer.concat([this.heldBytes, chunk]);
      return;
    }
    this.bytes += chunk.length;
    const end = chunk.length;
    let pos = 0;
    this.passStart = -1;
    while (pos < end) {
      if (this.state === State.Payload) {
        const take = Math.min(this.remaining, end - pos);
        if (this.forwarding && this.passStart < 0) this.passStart = pos;
        pos += take;
        this.remaining -= take;
        if (this.remaining === 0) this.endDataFrame(chunk, pos);
      } else if (this.state === State.Header) {
        if (this.holdAtFrameStart && this.headerHave === 0) {
          this.holdFrom(chunk, pos);
          break;
        }
        pos = this.readHeader(chunk, pos);
      } else if (this.state === State.Control) {
        pos = this.readControlPayload(chunk, pos);
      } else if (this.state === State.Collect) {
        pos = this.readCollected(chunk, pos);
      } else {
        break;
      }
    }
    this.keepScratch();
    this.flushPass(chunk, this.stopped ? pos : end);
    if (this.sawData) {
      this.sawData = false;
      this.lastDataAt = Date.now();
    }
  }

  private flushPass(chunk: Buffer, upTo: number): void {
    const start = this.passStart;
    if (start < 0) return;
    this.passStart = -1;
    if (upTo <= start) return;
    this.out.write(start === 0 && upTo === chunk.length ? chunk : chunk.subarray(start, upTo));
  }

  /** Reads a header at `pos`, whole or in pieces across chunks; returns the new position. */
  private readHeader(chunk: Buffer, pos: number): number {
    const end = chunk.length;
    let header: Buffer;
    let at: number;
    let length: number;
    if (this.headerHave === 0 && end - pos >= 2 && end - pos >= headerLength(chunk[pos + 1] as number)) {
      header = chunk;
      at = pos;
      length = headerLength(chunk[pos + 1] as number);
    } else {
      // The header is split across reads: gather it in scratch space first.
      if (this.headerHave === 0) this.flushPass(chunk, pos);
      const scratch = this.scratch;
      const need = this.headerHave < 2 ? 2 : headerLength(scratch[1] as number);
      let take = Math.min(need - this.headerHave, end - pos);
      chunk.copy(scratch, this.headerHave, pos, pos + take);
      this.headerHave += take;
      pos += take;
      if (this.headerHave < 2) return pos;
      length = headerLength(scratch[1] as number);
      take = Math.min(length - this.headerHave, end - pos);
      chunk.copy(scratch, this.headerHave, pos, pos + take);
      this.headerHave += take;
      pos += take;
      if (this.headerHave < length) return pos;
      this.headerHave = 0;
      header = scratch;
      at = 0;
    }
    const failure = this.beginFrame(header, at, length, chunk, header === chunk ? pos : -1);
    if (failure === HOLD) {
      // Stopped by the handler instead (action close): the frame is dropped with everything after it.
      if (this.state === State.Discard) return end;
      // From the header on: in the chunk at `pos`, or gathered in scratch space with the chunk's rest after it.
      // A chunk of our own (held before) is kept as a view: releasing a message at a time copies nothing.
      this.heldBytes =
        header !== chunk
          ? Buffer.concat([this.scratch.subarray(0, length), chunk.subarray(pos)])
          : this.releasing
            ? chunk.subarray(pos)
            : Buffer.from(chunk.subarray(pos));
      return end;
    }
    if (failure !== null) {
      this.flushPass(chunk, header === chunk ? pos : this.passStart);
      this.fail(failure);
      return end;
    }
    return header === chunk ? pos + length : pos;
  }

  /**
   * Checks a complete header and sets up the frame. `headerStart` is where the header sits in `chunk`,
   * or -1 when it was gathered across reads (and must be written from a copy).
   */
  private beginFrame(
    header: Buffer,
    at: number,
    length: number,
    chunk: Buffer,
    headerStart: number,
  ): FrameFailureKind | typeof HOLD | null {
    const b0 = header[at] as number;
    const b1 = header[at + 1] as number;
    const fin = (b0 & 0x80) !== 0;
    const rsv = b0 & 0x70;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    let payloadLength = b1 & 0x7f;
    let offset = at + 2;
    if (payloadLength === 126) {
      payloadLength = header.readUInt16BE(offset);
      offset += 2;
    } else if (payloadLength === 127) {
      const high = header.readUInt32BE(offset);
      if (high & 0x80000000) return FrameFailure.LengthMsbSet;
      // Past 2^53 a length cannot be counted exactly; no limit could be kept.
      if (high > 0x1fffff) return FrameFailure.MessageTooBig;
      payloadLength = high * 0x100000000 + header.readUInt32BE(offset + 4);
      offset += 8;
    }
    if (masked !== this.options.fromClient) {
      return masked ? FrameFailure.MaskUnexpected : FrameFailure.MaskMissing;
    }

    if (opcode >= Opcode.Close) {
      if (opcode > Opcode.Pong) return FrameFailure.ReservedOpcode;
      if (!fin) return FrameFailure.ControlFragmented;
      if (payloadLength > MAX_CONTROL_PAYLOAD) return FrameFailure.ControlTooLong;
      if (rsv !== 0 && !this.options.anyRsv) return FrameFailure.ReservedBits;
      if (this.guarded) {
        const failure = this.options.policy?.checkControl(opcode) ?? null;
        if (failure !== null) return failure;
      }
      this.flushPass(chunk, headerStart < 0 ? this.passStart : headerStart);
      this.opcode = opcode;
      this.controlLength = payloadLength;
      this.controlHave = 0;
      this.controlMasked = masked;
      if (masked) header.copy(this.scratch, MASK_START, offset, offset + 4);
      this.state = State.Control;
      if (payloadLength === 0) this.endControlFrame();
      return null;
    }

    if (opcode > Opcode.Binary) return FrameFailure.ReservedOpcode;
    if (opcode === Opcode.Continuation) {
      if (!this.inMessage) return FrameFailure.UnexpectedContinuation;
      if (rsv !== 0 && !this.options.anyRsv) return FrameFailure.ReservedBits;
    } else {
      if (this.inMessage) return FrameFailure.ExpectedContinuation;
      if ((rsv & ~this.options.firstFrameRsv) !== 0 && !this.options.anyRsv) return FrameFailure.ReservedBits;
    }
    const maxMessageSize = this.options.maxMessageSize;
    if (maxMessageSize >= 0 && this.messageBytes + payloadLength > maxMessageSize) return FrameFailure.MessageTooBig;
    // One field checked per frame where no limit or rate is set.
    if (this.guarded) {
      const verdict = this.guardData(opcode, length + payloadLength, payloadLength, chunk, headerStart);
      if (verdict !== null) return verdict;
    }
    const inspector = this.options.inspector;
    // A compressed message (RSV1, permessage-deflate passed through) could not be read: it streams through.
    if (
      inspector !== undefined &&
      opcode === Opcode.Text &&
      fin &&
      rsv === 0 &&
      payloadLength <= inspector.maxMessageSize
    ) {
      this.beginCollect(header, at, length, payloadLength, chunk, headerStart);
      return null;
    }

    this.fin = fin;
    this.inMessage = !fin;
    this.messageBytes += payloadLength;
    this.messageFrames++;
    this.remaining = payloadLength;
    if (this.options.trackActivity) this.sawData = true;
    // Once a close has gone to the other peer, data for it is dropped; the frame is still read to stay in step.
    this.forwarding = !this.out.closing;
    if (this.forwarding) {
      if (headerStart >= 0) {
        if (this.passStart < 0) this.passStart = headerStart;
      } else {
        this.out.write(Buffer.from(this.scratch.subarray(0, length)));
      }
      this.out.midFrame = true;
    } else if (headerStart >= 0) {
      this.flushPass(chunk, headerStart);
    }
    this.state = State.Payload;
    if (payloadLength === 0) this.endDataFrame(chunk, headerStart < 0 ? 0 : headerStart + length);
    return null;
  }

  /**
   * A data frame's header against the frame policy, then (where a rate is set) the handler's gate: a failure, HOLD
   * when the frame must wait (what came before it has been written on; the caller keeps the frame and what follows,
   * unless the handler stopped the stream), or null to go on.
   */
  private guardData(
    opcode: number,
    frameBytes: number,
    payloadLength: number,
    chunk: Buffer,
    headerStart: number,
  ): FrameFailureKind | typeof HOLD | null {
    const failure = this.options.policy?.checkData(opcode, payloadLength) ?? null;
    if (failure !== null || !this.options.gateDataFrames) return failure;
    const waitMs = this.handler.onDataFrame(this, opcode !== Opcode.Continuation, frameBytes);
    if (waitMs <= 0) return null;
    // What came before this frame goes on first (a close the handler sends must come after it).
    this.flushPass(chunk, headerStart < 0 ? this.passStart : headerStart);
    this.handler.onFrameHeld(this, waitMs);
    return HOLD;
  }

  private endDataFrame(chunk: Buffer, pos: number): void {
    this.state = State.Header;
    this.framesDone++;
    if (this.fin) this.endMessage();
    if (!this.forwarding) return;
    if (this.out.hasQueued) {
      // Frames of the gateway's own are waiting for this boundary: what came before them goes first.
      this.flushPass(chunk, pos);
      this.out.endFrame();
    } else {
      this.out.midFrame = false;
    }
  }

  /** The last frame of a message is read: counted, and the message's sizes start again from 0. */
  private endMessage(): void {
    this.messages++;
    const size = this.messageBytes;
    if (size > this.largestMessage) this.largestMessage = size;
    this.options.tally?.message(size, this.messageFrames);
    this.messageBytes = 0;
    this.messageFrames = 0;
  }

  /** A small whole text message: gathered (not passed on) until the inspector has seen it. */
  private beginCollect(
    header: Buffer,
    at: number,
    length: number,
    payloadLength: number,
    chunk: Buffer,
    headerStart: number,
  ): void {
    this.flushPass(chunk, headerStart < 0 ? this.passStart : headerStart);
    this.collected = new CollectedFrame(header, at, length, payloadLength);
    // One whole frame: counted as a message of its own when it ends (endCollect).
    this.messageBytes = payloadLength;
    this.messageFrames = 1;
    if (this.options.trackActivity) this.sawData = true;
    this.state = State.Collect;
    if (payloadLength === 0) this.endCollect();
  }

  private readCollected(chunk: Buffer, pos: number): number {
    const collected = this.collected as CollectedFrame;
    const next = collected.take(chunk, pos);
    if (collected.complete) this.endCollect();
    return next;
  }

  private endCollect(): void {
    const collected = this.collected as CollectedFrame;
    this.collected = null;
    this.state = State.Header;
    this.framesDone++;
    this.endMessage();
    if (this.out.closing) return;
    const inspector = this.options.inspector as MessageInspector;
    if (!inspector.inspect(collected.payload(this.options.fromClient))) this.out.write(collected.raw);
  }

  private readControlPayload(chunk: Buffer, pos: number): number {
    const take = Math.min(this.controlLength - this.controlHave, chunk.length - pos);
    const scratch = this.scratch;
    if (this.controlMasked) {
      for (let i = 0; i < take; i++) {
        const index = this.controlHave + i;
        scratch[CONTROL_START + index] = (chunk[pos + i] as number) ^ (scratch[MASK_START + (index & 3)] as number);
      }
    } else {
      chunk.copy(scratch, CONTROL_START + this.controlHave, pos, pos + take);
    }
    this.controlHave += take;
    if (this.controlHave === this.controlLength) this.endControlFrame();
    return pos + take;
  }

  private endControlFrame(): void {
    this.state = State.Header;
    this.framesDone++;
    this.options.tally?.control(this.opcode);
    const payload = this.scratch.subarray(CONTROL_START, CONTROL_START + this.controlLength);
    if (this.opcode === Opcode.Close) {
      const failure = checkClosePayload(payload);
      if (failure !== null) {
        this.fail(failure);
        return;
      }
      // Nothing may follow a close frame (RFC 6455 §5.5.1).
      this.state = State.Discard;
    }
    this.handler.onControlFrame(this, this.opcode, payload);
  }

  private fail(failure: FrameFailureKind): void {
    this.state = State.Discard;
    this.handler.onFrameError(this, failure);
  }
}

/** A close payload is empty, or a valid code followed by a UTF-8 reason. */
export function checkClosePayload(payload: Buffer): FrameFailureKind | null {
  if (payload.length === 0) return null;
  if (payload.length === 1) return FrameFailure.CloseLength;
  if (!isValidWireCloseCode(payload.readUInt16BE(0))) return FrameFailure.CloseCodeInvalid;
  if (payload.length > 2 && !isUtf8(payload.subarray(2))) return FrameFailure.CloseReasonUtf8;
  return null;
}
