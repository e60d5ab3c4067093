import type { RelayPeer } from "./relay-peer.js";
import { drainReadable, freezeReads, readableBytes, thawReads } from "./socket-freeze.js";

/** Bytes each peer sent that the relay read and did not relay: they go with a session that moves, in front. */
export interface PendingBytes {
  client: Buffer;
  backend: Buffer;
}

/**
 * A relay being brought to rest for a hand-over (WebSocketRelay.beginSettle): each side is read until its current
 * frame is done (a fragmented message may stay open: between its frames is a boundary), then its reads stop at the
 * TCP handle and whatever it sent after that boundary is held unparsed, its socket's Readable buffer included;
 * meanwhile what was written to each side drains. At rest, the held bytes are the session's pending bytes. Asked
 * again and again (`step`) by whoever waits, bounded by their settle time; `cancel` takes the session up again.
 */
export class RelaySettle {
  private clientFrozen = false;
  private backendFrozen = false;

  constructor(
    private readonly client: RelayPeer,
    private readonly backend: RelayPeer,
  ) {
    client.stream.settleOn();
    backend.stream.settleOn();
  }

  /** Whether reading `peer` is stopped at its handle (the relay must not resume it). */
  frozen(peer: RelayPeer): boolean {
    return peer === this.client ? this.clientFrozen : this.backendFrozen;
  }

  /** Moves each side toward rest; true when both are: between frames, not read, nothing left to write to them. */
  step(): boolean {
    const client = this.stepSide(this.client);
    const backend = this.stepSide(this.backend);
    return client && backend;
  }

  /** What each side sent past its last frame boundary (copies), once at rest. */
  pending(): PendingBytes {
    return { client: copyOf(this.client.stream.heldView), backend: copyOf(this.backend.stream.heldView) };
  }

  /** Takes the session up again here: the held bytes are parsed (and relayed), then the sockets read on. */
  cancel(): void {
    this.client.stream.settleOff();
    this.backend.stream.settleOff();
    if (this.clientFrozen) thawReads(this.client.socket, this.client.readBuffer !== null);
    if (this.backendFrozen) thawReads(this.backend.socket, this.backend.readBuffer !== null);
    this.clientFrozen = this.backendFrozen = false;
  }

  private stepSide(peer: RelayPeer): boolean {
    // Mid-frame: read on until the frame is done (the stream holds what follows it).
    if (!peer.stream.atFrameStart) return false;
    if (!this.frozen(peer)) {
      if (!freezeReads(peer.socket)) return false;
      if (peer === this.client) this.clientFrozen = true;
      else this.backendFrozen = true;
    }
    // Read ahead by the socket (while paused) or put back in front of it: through the relay, into the held bytes.
    if (readableBytes(peer.socket) > 0) drainReadable(peer.socket);
    const outbox = peer.outbox;
    return (
      peer.stream.atFrameStart &&
      readableBytes(peer.socket) === 0 &&
      !outbox.midFrame &&
      !outbox.hasQueued &&
      peer.socket.writableLength === 0
    );
  }
}

function copyOf(bytes: Buffer | null): Buffer {
  return bytes === null ? Buffer.alloc(0) : Buffer.from(bytes);
}
