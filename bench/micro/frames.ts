/**
 * Prebuilt WebSocket frames for the parser benchmark, encoded here (RFC 6455 §5.2) rather than with the code
 * under test, and the ways a batch of them is cut into chunks, as reads from a socket would cut them.
 */
import { randomFillSync } from "node:crypto";

/** One frame: FIN set, the given opcode, masked with `maskKey` when there is one. */
export function encodeFrame(opcode: number, payload: Buffer, maskKey?: Buffer): Buffer {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
  const headerLength = 2 + extended + (maskKey === undefined ? 0 : 4);
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x80 | opcode;
  const maskBit = maskKey === undefined ? 0 : 0x80;
  if (extended === 0) frame[1] = maskBit | length;
  else if (extended === 2) {
    frame[1] = maskBit | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = maskBit | 127;
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  if (maskKey === undefined) {
    payload.copy(frame, headerLength);
  } else {
    maskKey.copy(frame, 2 + extended);
    for (let i = 0; i < length; i++) frame[headerLength + i] = (payload[i] as number) ^ (maskKey[i & 3] as number);
  }
  return frame;
}

export interface FrameBatch {
  /** The frames back to back. */
  bytes: Buffer;
  /** Where each frame starts in `bytes`. */
  starts: number[];
  frames: number;
  payloadSize: number;
  /** Masked, as a client sends them; unmasked, as a server does. */
  masked: boolean;
}

/** `count` binary frames of `payloadSize` random bytes, masked (as from a client) or not. */
export function frameBatch(count: number, payloadSize: number, masked: boolean): FrameBatch {
  const payload = randomFillSync(Buffer.allocUnsafe(payloadSize));
  const frames: Buffer[] = [];
  const starts: number[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const frame = encodeFrame(0x2, payload, masked ? randomFillSync(Buffer.allocUnsafe(4)) : undefined);
    starts.push(at);
    at += frame.length;
    frames.push(frame);
  }
  return { bytes: Buffer.concat(frames), starts, frames: count, payloadSize, masked };
}

/** The batch in chunks of `size` bytes (the last may be shorter): boundaries fall wherever they fall. */
export function fixedChunks(batch: FrameBatch, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < batch.bytes.length; at += size) chunks.push(batch.bytes.subarray(at, at + size));
  return chunks;
}

/** The batch cut `offset` bytes into every frame: each header arrives in two reads (the parser's slow path). */
export function splitHeaders(batch: FrameBatch, offset: number): Buffer[] {
  const cuts = [...batch.starts.map((start) => start + offset), batch.bytes.length];
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    if (cut <= from) continue;
    chunks.push(batch.bytes.subarray(from, cut));
    from = cut;
  }
  return chunks;
}
