import { Socket } from "node:net";
import { endOnce } from "./frame-outbox.js";
import type { RelayStream } from "./relay-stream.js";

/**
 * Closes a relay connection whose part of the close handshake is over, the way nginx does: one close() of the
 * descriptor, which sends the FIN just as shutdown() would, without the shutdown() call, its completion and the
 * epoll changes around it. Only where that is the same on the wire:
 * - plain TCP only: a TLS socket's end() sends close_notify first, an HTTP/2 stream's destroy() would be a
 *   RST_STREAM, an in-memory stream has no descriptor;
 * - nothing of ours still queued in Node (writableLength 0: our close frame is with the kernel, which sends it
 *   before the FIN); else end(), which sends the FIN once the queue is out.
 * Bytes the peer sent that were never read would make close() a RST: nothing may follow a close frame (RFC 6455
 * 5.5.1), and a peer that sent more broke the protocol.
 */
export function closeWhenFlushed(socket: RelayStream): void {
  if (socket.writableLength === 0 && isPlainTcp(socket)) socket.destroy();
  else endOnce(socket);
}

/**
 * Whether a stream whose peer ended its side still carries what we write: an HTTP/2 stream (END_STREAM is a
 * half-close), not a TCP or TLS socket (the HTTP/1.1 path keeps closing at once, as it always did).
 */
export function writableAfterEnd(socket: RelayStream): boolean {
  return !(socket instanceof Socket) && socket.writable;
}

function isPlainTcp(socket: RelayStream): boolean {
  return socket instanceof Socket && (socket as Socket & { encrypted?: boolean }).encrypted !== true;
}
