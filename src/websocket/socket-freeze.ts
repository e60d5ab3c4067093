import { Socket } from "node:net";
import type { RelayStream } from "./relay-stream.js";

/**
 * Stopping a plain TCP socket's reads at the handle, for a session brought to rest before its connections go to
 * another process: bytes it has not read stay in the kernel and are read there.
 *
 * `pause()` is not enough: a paused net.Socket keeps reading into its Readable buffer up to the high-water mark.
 * `readStop()` on the handle stops that; `reading` is left true so that net.Socket's `_read` (called by `read()`,
 * `resume()`) does not start it again behind our back, and `thawReads` puts both right. A socket reading into
 * buffers of the relay's (socket-reader.ts) is stopped the same way (its `pause()` stops the handle and clears
 * `reading`, its `resume()` starts it again: the relay does not call it on a frozen socket).
 */

interface ReadingHandle {
  reading: boolean;
  readStop(): number;
  readStart(): number;
}

function handleOf(socket: RelayStream): ReadingHandle | null {
  if (!(socket instanceof Socket) || socket.destroyed) return null;
  const handle = (socket as unknown as { _handle?: unknown })._handle;
  if (typeof handle !== "object" || handle === null) return null;
  const candidate = handle as Partial<ReadingHandle>;
  return typeof candidate.readStop === "function" && typeof candidate.readStart === "function"
    ? (handle as ReadingHandle)
    : null;
}

/** Why a stream cannot be handed to another process, or null when it can: a plain TCP socket, open. */
export function unmovableReason(socket: RelayStream): "tls" | "notMovable" | null {
  if (!(socket instanceof Socket)) return "notMovable";
  if ((socket as Socket & { encrypted?: boolean }).encrypted === true) return "tls";
  return handleOf(socket) === null || socket.connecting ? "notMovable" : null;
}

/** Stops reading at the handle; false where the stream has no TCP handle (nothing done). */
export function freezeReads(socket: RelayStream): boolean {
  const handle = handleOf(socket);
  if (handle === null) return false;
  handle.readStop();
  handle.reading = true;
  return true;
}

/**
 * Undoes `freezeReads`. `userBuffer`: the socket reads into the relay's buffers, where a paused socket's handle must
 * stay stopped (its `resume()` starts it); a socket read through its stream reads on while paused, up to its
 * high-water mark, as before.
 */
export function thawReads(socket: RelayStream, userBuffer: boolean): void {
  const handle = handleOf(socket);
  if (handle === null) return;
  if (userBuffer && socket.isPaused()) {
    handle.reading = false;
    return;
  }
  handle.reading = true;
  handle.readStart();
}

/** Bytes the socket has read and not yet given out (its Readable buffer: read ahead while paused, or unshifted). */
export function readableBytes(socket: RelayStream): number {
  return socket instanceof Socket ? socket.readableLength : 0;
}

/** Gives out what the socket's Readable buffer holds, as `data` events (to the relay), without reading more. */
export function drainReadable(socket: RelayStream): void {
  if (!(socket instanceof Socket)) return;
  // `read()` emits `data` for what it returns; with the handle frozen it starts no read. It gives the whole buffer
  // at once; the bound only guards against a stream that would not.
  for (let round = 0; round < 64 && socket.readableLength > 0; round++) {
    if (socket.read() === null) return;
  }
}
