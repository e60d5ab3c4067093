/**
 * WebSocket framing (RFC 6455 §5) for the bench's RFC 8441 load client, which has no `ws` to lean on: over HTTP/2
 * the frames travel in DATA frames of a CONNECT stream, and the client writes and reads them itself. Encoding masks
 * (a client must); decoding takes masked or unmasked frames, so a test's echo server can use it too.
 */
import { randomFillSync } from "node:crypto";

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Mask keys are taken from one random pool refilled when used up: no crypto call per frame. */
const MASK_POOL_BYTES = 4096;
const maskPool = Buffer.allocUnsafe(MASK_POOL_BYTES);
let maskOffset = MASK_POOL_BYTES;

function nextMask(into: Buffer, at: number): void {
  if (maskOffset + 4 > MASK_POOL_BYTES) {
    randomFillSync(maskPool);
    maskOffset = 0;
  }
  maskPool.copy(into, at, maskOffset, maskOffset + 4);
  maskOffset += 4;
}

function headerLength(payloadLength: number, masked: boolean): number {
  const extended = payloadLength < 126 ? 0 : payloadLength < 0x10000 ? 2 : 8;
  return 2 + extended + (masked ? 4 : 0);
}

/**
 * One whole frame (FIN set) as one buffer: header, then the payload, XORed with a fresh mask key when `masked`.
 * `payload` is left as it is.
 */
export function encodeFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const length = payload.length;
  const header = headerLength(length, masked);
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x80 | opcode;
  let at = 2;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 0x10000) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
    at = 4;
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
    at = 10;
  }
  if (!masked) {
    payload.copy(frame, at);
    return frame;
  }
  frame[1] = (frame[1] as number) | 0x80;
  nextMask(frame, at);
  const maskAt = at;
  at += 4;
  for (let i = 0; i < length; i++) frame[at + i] = (payload[i] as number) ^ (frame[maskAt + (i & 3)] as number);
  return frame;
}

/** A close frame's payload: the code, then the reason (UTF-8, at most 123 bytes). */
export function closePayload(code: number, reason = ""): Buffer {
  const text = Buffer.from(reason, "utf8").subarray(0, 123);
  const payload = Buffer.allocUnsafe(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return payload;
}

/** A whole message (fragments joined) or a control frame, as the decoder hands it over. */
export interface DecodedFrame {
  opcode: number;
  payload: Buffer;
  /** The frame came masked (what a server expects of a client, and a client must not receive). */
  masked: boolean;
}

/** What is wrong with the bytes, said once; the decoder reads nothing more after it. */
export class FrameError extends Error {}

/**
 * Reads frames from the chunks of a stream, in order; joins fragments into one message. Bounded by `maxPayload`
 * (per frame and per joined message). Chunks are kept until a whole frame is there.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private fragments: Buffer[] = [];
  private fragmentsLength = 0;
  private fragmentOpcode = -1;
  private failed = false;

  constructor(private readonly maxPayload = 64 * 1024 * 1024) {}

  /** Appends `chunk` and returns every frame it completed; throws FrameError on a protocol fault. */
  push(chunk: Buffer): DecodedFrame[] {
    if (this.failed) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: DecodedFrame[] = [];
    try {
      for (;;) {
        const frame = this.next();
        if (frame === undefined) break;
        if (frame !== null) out.push(frame);
      }
    } catch (error) {
      this.failed = true;
      throw error;
    }
    return out;
  }

  /** Joins what is buffered into one buffer (a frame's header or payload may span chunks). */
  private flat(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0] as Buffer;
  }

  /** The next whole frame: a message or control frame, null for a fragment kept back, undefined for "need more". */
  private next(): DecodedFrame | null | undefined {
    if (this.buffered < 2) return undefined;
    const data = this.flat();
    const first = data[0] as number;
    const second = data[1] as number;
    const fin = (first & 0x80) !== 0;
    if ((first & 0x70) !== 0) throw new FrameError("reserved bits set (no extension was negotiated)");
    const opcode = first & 0x0f;
    const masked = (second & 0x80) !== 0;
    let length = second & 0x7f;
    let at = 2;
    if (length === 126) {
      if (this.buffered < 4) return undefined;
      length = data.readUInt16BE(2);
      at = 4;
    } else if (length === 127) {
      if (this.buffered < 10) return undefined;
      const high = data.readUInt32BE(2);
      if (high > 0x1fffff) throw new FrameError("payload length beyond 2^53");
      length = high * 0x1_0000_0000 + data.readUInt32BE(6);
      at = 10;
    }
    if (length > this.maxPayload) throw new FrameError(`frame of ${length} bytes beyond ${this.maxPayload}`);
    const control = opcode >= 0x8;
    if (control && (!fin || length > 125)) throw new FrameError("control frame fragmented or longer than 125 bytes");
    if (![OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG].includes(opcode))
      throw new FrameError(`unknown opcode ${opcode}`);
    const maskAt = at;
    if (masked) at += 4;
    if (this.buffered < at + length) return undefined;
    const payload = Buffer.from(data.subarray(at, at + length));
    if (masked)
      for (let i = 0; i < length; i++) payload[i] = (payload[i] as number) ^ (data[maskAt + (i & 3)] as number);
    const rest = data.subarray(at + length);
    this.chunks = rest.length === 0 ? [] : [rest];
    this.buffered = rest.length;
    if (control) return { opcode, payload, masked };
    return this.message(opcode, fin, payload, masked);
  }

  private message(opcode: number, fin: boolean, payload: Buffer, masked: boolean): DecodedFrame | null {
    if (opcode === OP_CONTINUATION) {
      if (this.fragmentOpcode < 0) throw new FrameError("continuation without a message to continue");
    } else if (this.fragmentOpcode >= 0) {
      throw new FrameError("a new message began before the last one ended");
    }
    if (fin && this.fragmentOpcode < 0) return { opcode, payload, masked };
    if (this.fragmentOpcode < 0) this.fragmentOpcode = opcode;
    this.fragments.push(payload);
    this.fragmentsLength += payload.length;
    if (this.fragmentsLength > this.maxPayload) throw new FrameError(`message beyond ${this.maxPayload} bytes`);
    if (!fin) return null;
    const whole = { opcode: this.fragmentOpcode, payload: Buffer.concat(this.fragments), masked };
    this.fragments = [];
    this.fragmentsLength = 0;
    this.fragmentOpcode = -1;
    return whole;
  }
}
