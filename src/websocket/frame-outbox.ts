import type { RelayStream } from "./relay-stream.js";

/** What the outbox writes to: the writing half of a relay stream. */
export type OutboxTarget = Pick<RelayStream, "write" | "end" | "writable" | "writableEnded" | "writableLength">;

/** Ends our side of a connection; a second end() would cost Node an error object with a stack trace. */
export function endOnce(socket: Pick<RelayStream, "end" | "writableEnded">): void {
  if (!socket.writableEnded) socket.end();
}

/**
 * Everything written to one peer goes through its outbox. The relay streams data frames into it piece by piece;
 * frames of the gateway's own (pings, closes) must never land inside one, so they wait here for the frame boundary.
 */
export class FrameOutbox {
  /** A data frame's header has been written and some of its payload is still to come. */
  midFrame = false;
  /** A close frame has been queued or written: nothing but teardown may follow it. */
  closing = false;
  /**
   * What is written now are views of a read buffer that will be read into again: a view the socket would have to
   * hold (its writes are backed up) is copied first, and one it kept anyway (a write the kernel took only in part)
   * is reported in `lent`.
   */
  borrowed = false;
  /** A borrowed view was left with the socket: its buffer must not be read into again. */
  lent = false;
  private queued: Buffer[] | null = null;
  private endAfterClose = false;
  /**
   * A TLS socket's write is encrypted into Node's TLS buffers before write() returns (TLSWrap copies what it cannot
   * send yet), but completes only on a later turn: counted in `writableLength` meanwhile, it holds no view. Marking
   * it `lent` made every read of the other side (a wss:// session's backend) go into a fresh 64 KiB buffer.
   */
  private readonly copiesOnWrite: boolean;

  constructor(private readonly socket: OutboxTarget) {
    this.copiesOnWrite = (socket as { encrypted?: unknown }).encrypted === true;
  }

  write(bytes: Buffer): void {
    const socket = this.socket;
    if (!socket.writable) return;
    if (!this.borrowed) {
      socket.write(bytes);
    } else if (socket.writableLength > 0) {
      socket.write(Buffer.from(bytes));
    } else {
      socket.write(bytes);
      if (socket.writableLength > 0 && !this.copiesOnWrite) this.lent = true;
    }
  }

  /** Writes a whole frame of the gateway's own now if between frames, else right after the frame in flight. */
  inject(frame: Buffer): void {
    if (this.closing) return;
    if (this.midFrame) (this.queued ??= []).push(frame);
    else this.write(frame);
  }

  /**
   * Sends a close frame, once; the relay sends nothing after it. With `thenEnd`, the TCP connection is ended as
   * soon as the frame is out, for a peer whose answer will not be read.
   */
  injectClose(frame: Buffer, thenEnd: boolean): void {
    if (this.closing) return;
    this.inject(frame);
    this.closing = true;
    this.endAfterClose = thenEnd;
    if (!this.midFrame && thenEnd) endOnce(this.socket);
  }

  get hasQueued(): boolean {
    return this.queued !== null;
  }

  /** Bytes held in the gateway for this peer: frames waiting for a boundary and what its socket has not sent. */
  get bufferedBytes(): number {
    let queued = 0;
    // Read on every chunk relayed: no array is made when nothing waits.
    if (this.queued !== null) for (const frame of this.queued) queued += frame.length;
    return queued + this.socket.writableLength;
  }

  /** Called by the relay when the data frame in flight is complete. */
  endFrame(): void {
    this.midFrame = false;
    const queued = this.queued;
    if (queued === null) return;
    this.queued = null;
    for (const frame of queued) this.write(frame);
    if (this.endAfterClose) endOnce(this.socket);
  }
}
