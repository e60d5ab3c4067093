import { randomFillSync } from "node:crypto";
import { MAX_CLOSE_REASON_BYTES, MAX_CONTROL_PAYLOAD, Opcode } from "./protocol.js";

const EMPTY = Buffer.alloc(0);

// Mask keys come from a pool refilled 1,024 keys at a time: one call into the CSPRNG per 1,024 frames, not per frame.
const MASK_POOL = Buffer.allocUnsafe(4096);
let maskPoolAt = MASK_POOL.length;

/** Writes a fresh random 4-byte mask key at `frame[at]`. */
function writeMaskKey(frame: Buffer, at: number): void {
  if (maskPoolAt === MASK_POOL.length) {
    randomFillSync(MASK_POOL);
    maskPoolAt = 0;
  }
  MASK_POOL.copy(frame, at, maskPoolAt, maskPoolAt + 4);
  maskPoolAt += 4;
}

/**
 * Encodes one final control frame (close, ping, pong). Frames to a server are masked with a fresh key;
 * data frames are never built here: the relay passes them through as they came.
 */
export function encodeControlFrame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  if (payload.length > MAX_CONTROL_PAYLOAD) throw new RangeError("control payload over 125 bytes");
  const headerLength = masked ? 6 : 2;
  const frame = Buffer.allocUnsafe(headerLength + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = (masked ? 0x80 : 0) | payload.length;
  if (!masked) {
    payload.copy(frame, 2);
    return frame;
  }
  writeMaskKey(frame, 2);
  for (let i = 0; i < payload.length; i++) {
    frame[6 + i] = (payload[i] as number) ^ (frame[2 + (i & 3)] as number);
  }
  return frame;
}

/** A close payload: the code and a reason cut to fit, at a character boundary. */
export function encodeClosePayload(code: number | undefined, reason = ""): Buffer {
  if (code === undefined) return EMPTY;
  let reasonBytes = Buffer.from(reason, "utf8");
  if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
    let end = MAX_CLOSE_REASON_BYTES;
    // Step back over UTF-8 continuation bytes so the cut never splits a character.
    while (end > 0 && ((reasonBytes[end] as number) & 0xc0) === 0x80) end--;
    reasonBytes = reasonBytes.subarray(0, end);
  }
  const payload = Buffer.allocUnsafe(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2);
  return payload;
}

export function encodeCloseFrame(code: number | undefined, reason: string, masked: boolean): Buffer {
  return encodeControlFrame(Opcode.Close, encodeClosePayload(code, reason), masked);
}
