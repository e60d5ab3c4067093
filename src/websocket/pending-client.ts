import type { Duplex } from "node:stream";

/** Bytes a client may send before its 101 that the gateway reads ahead while it waits for the backend. */
const READ_AHEAD_LIMIT = 64 * 1024;

/**
 * Watches a client's socket while its backend handshake is pending and calls `onLeft` once if the client goes.
 * A socket nobody reads never sees its peer's FIN or reset, so the socket is read: what arrives (frames sent before
 * the 101) is put back in front of the stream when watching stops, for the relay to read first. Past
 * READ_AHEAD_LIMIT bytes reading pauses, and TCP holds the client back as it would without the watch.
 *
 * Returns the watch; its `stop` ends it (and leaves the socket paused).
 */
export function watchPendingClient(socket: Duplex, onLeft: () => void): PendingClientWatch {
  const watch = new PendingClientWatch(socket, onLeft);
  watches.set(socket, watch);
  // `on`, not `once`: `stop` removes all three before anything else can fire them (no once-wrapper per handshake).
  socket.on("data", onPendingData);
  socket.on("end", onPendingGone);
  socket.on("close", onPendingGone);
  if (socket.destroyed) onPendingGone.call(socket);
  else socket.resume();
  return watch;
}

/**
 * One watch: the bytes read ahead and whom to tell when the client goes. The socket's handlers are shared functions
 * that find their watch through `watches`, not three closures and a state context per handshake.
 */
export class PendingClientWatch {
  /** Bytes read ahead, in order (undefined until some arrive: most clients send nothing before the 101). */
  early: Buffer[] | undefined;
  earlyBytes = 0;
  private stopped = false;

  constructor(
    readonly socket: Duplex,
    readonly onLeft: () => void,
  ) {}

  /** Stops watching: the socket is left paused, with what was read ahead put back in front of it. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const socket = this.socket;
    if (watches.get(socket) === this) watches.delete(socket);
    socket.off("data", onPendingData);
    socket.off("end", onPendingGone);
    socket.off("close", onPendingGone);
    socket.pause();
    const early = this.early;
    if (early !== undefined && !socket.destroyed && !socket.readableEnded) socket.unshift(Buffer.concat(early));
  }
}

/** The watch of each watched socket, for the shared handlers. */
const watches = new WeakMap<Duplex, PendingClientWatch>();

function onPendingData(this: Duplex, chunk: Buffer): void {
  const watch = watches.get(this);
  if (watch === undefined) return;
  (watch.early ??= []).push(chunk);
  watch.earlyBytes += chunk.length;
  if (watch.earlyBytes >= READ_AHEAD_LIMIT) this.pause();
}

function onPendingGone(this: Duplex): void {
  const watch = watches.get(this);
  if (watch === undefined) return;
  watch.stop();
  watch.onLeft();
}
