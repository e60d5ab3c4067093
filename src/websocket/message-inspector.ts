// Whole small text messages from a peer, read by the gateway before they are relayed (a token renewal, for one).
// Only a relay given an inspector collects anything; every other message streams through as before.

/** Reads whole, unfragmented text messages up to a size, and may keep one from being relayed. */
export interface MessageInspector {
  /** Largest payload inspected (bytes); larger or fragmented messages pass unread. */
  readonly maxMessageSize: number;
  /** An unmasked copy of the message's payload, the inspector's to keep; true: consumed, not relayed. */
  inspect(payload: Buffer): boolean;
}

/** One frame being gathered whole: its header and masked payload as they came, so it can be relayed unchanged. */
export class CollectedFrame {
  readonly raw: Buffer;
  have: number;

  constructor(
    header: Buffer,
    at: number,
    private readonly headerLength: number,
    payloadLength: number,
  ) {
    this.raw = Buffer.allocUnsafe(headerLength + payloadLength);
    header.copy(this.raw, 0, at, at + headerLength);
    this.have = headerLength;
  }

  /** Copies what `chunk` holds of the frame from `pos`; returns the new position. */
  take(chunk: Buffer, pos: number): number {
    const count = Math.min(this.raw.length - this.have, chunk.length - pos);
    chunk.copy(this.raw, this.have, pos, pos + count);
    this.have += count;
    return pos + count;
  }

  get complete(): boolean {
    return this.have === this.raw.length;
  }

  /** The payload, unmasked into a new buffer (frames from a client are masked; the key ends the header). */
  payload(masked: boolean): Buffer {
    const payload = Buffer.from(this.raw.subarray(this.headerLength));
    if (!masked) return payload;
    const key = this.headerLength - 4;
    for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (this.raw[key + (i & 3)] as number);
    return payload;
  }
}
