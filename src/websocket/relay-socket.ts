import type { Socket } from "node:net";

/**
 * TCP tuning for a socket about to carry a relayed session: frames go out as they are written (no Nagle delay), and
 * no idle timeout of the socket's own (the relay keeps its own heartbeat and idle timeout). Not part of the relay,
 * which runs on any duplex stream.
 */
export function tuneSocketForRelay(socket: Socket): void {
  socket.setNoDelay(true);
  socket.setTimeout(0);
}
