import type { Duplex } from "node:stream";

/** Bytes a client may send before its 101 that the gateway reads ahead while it waits for the backend. */
const READ_AHEAD_LIMIT = 64 * 1024;

/**
 * Watches a client's socket while its backend handshake is pending and calls `onLeft` once if the client goes.
 * A socket nobody reads never sees its peer's FIN or reset, so the socket is read: what arrives (frames sent before
 * the 101) is put back in front of the stream when watching stops, for the relay to read first. Past
 * READ_AHEAD_LIMIT bytes reading pauses, and TCP holds the client back as it would without the watch.
 *
 * Returns the function that stops watching (and leaves the socket paused).
 */
export function watchPendingClient(socket: Duplex, onLeft: () => void): () => void {
  const early: Buffer[] = [];
  let earlyBytes = 0;
  let stopped = false;

  const onData = (chunk: Buffer): void => {
    early.push(chunk);
    earlyBytes += chunk.length;
    if (earlyBytes >= READ_AHEAD_LIMIT) socket.pause();
  };
  const onGone = (): void => {
    stop();
    onLeft();
  };
  function stop(): void {
    if (stopped) return;
    stopped = true;
    socket.off("data", onData);
    socket.off("end", onGone);
    socket.off("close", onGone);
    socket.pause();
    if (early.length > 0 && !socket.destroyed && !socket.readableEnded) socket.unshift(Buffer.concat(early));
  }

  // `on`, not `once`: `stop` removes all three before anything else can fire them (no once-wrapper per handshake).
  socket.on("data", onData);
  socket.on("end", onGone);
  socket.on("close", onGone);
  if (socket.destroyed) onGone();
  else socket.resume();
  return stop;
}
