import { randomBytes } from "node:crypto";

export interface FrameParts {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload?: Buffer | string;
  /** A mask key, `true` for a random one, or false/undefined for an unmasked frame. */
  mask?: Buffer | boolean;
  /** Force the 64-bit length form with this high word (for malformed lengths). */
  high32?: number;
}

/** Builds one frame byte by byte, the way a peer would put it on the wire. */
export function frame(parts: FrameParts): Buffer {
  const payload = typeof parts.payload === "string" ? Buffer.from(parts.payload) : (parts.payload ?? Buffer.alloc(0));
  const mask = parts.mask === true ? randomBytes(4) : parts.mask === false ? undefined : parts.mask;
  const length = payload.length;
  let header: Buffer;
  if (parts.high32 !== undefined) {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeUInt32BE(parts.high32, 2);
    header.writeUInt32BE(length, 6);
  } else if (length < 126) {
    header = Buffer.alloc(2);
    header[1] = length;
  } else if (length < 65536) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  header[0] = ((parts.fin ?? true) ? 0x80 : 0) | ((parts.rsv ?? 0) << 4) | parts.opcode;
  if (mask === undefined) return Buffer.concat([header, payload]);
  header[1] = (header[1] as number) | 0x80;
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([header, mask, masked]);
}

export interface DecodedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Decodes a whole byte stream into frames (unmasking), for checking what a peer received. */
export function decodeFrames(bytes: Buffer): DecodedFrame[] {
  const frames: DecodedFrame[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const b0 = bytes[pos] as number;
    const b1 = bytes[pos + 1] as number;
    let length = b1 & 0x7f;
    let offset = pos + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      length = bytes.readUInt32BE(offset) * 2 ** 32 + bytes.readUInt32BE(offset + 4);
      offset += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    let payload: Buffer;
    if (masked) {
      const mask = bytes.subarray(offset, offset + 4);
      offset += 4;
      payload = Buffer.from(bytes.subarray(offset, offset + length));
      for (let i = 0; i < length; i++) payload[i] = (payload[i] as number) ^ (mask[i & 3] as number);
    } else {
      payload = Buffer.from(bytes.subarray(offset, offset + length));
    }
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload });
    pos = offset + length;
  }
  return frames;
}

export function closePayload(code: number, reason = ""): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}
