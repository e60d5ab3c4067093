/**
 * What the relay needs of each peer's connection: a duplex byte stream. A TCP or TLS socket (net.Socket) is one, an
 * HTTP/2 stream (RFC 8441) is one, a node:stream Duplex is one. Socket tuning (no-delay, keep-alive, timeouts) is
 * the caller's business, done before the relay starts (relay-socket.ts for TCP).
 */
export interface RelayStream {
  write(chunk: Buffer): boolean;
  /** Ends our side of the stream once what was written is out. */
  end(): unknown;
  /** Tears the stream down now, without waiting for what is still queued. */
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
  readonly writable: boolean;
  readonly writableEnded: boolean;
  readonly writableNeedDrain: boolean;
  /** Bytes written and not yet handed to the transport. */
  readonly writableLength: number;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "drain" | "end" | "close", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  off(event: "data", listener: (chunk: Buffer) => void): unknown;
  off(event: "drain" | "end" | "close", listener: () => void): unknown;
  off(event: "error", listener: (error: Error) => void): unknown;
  listenerCount(event: "error"): number;
}
