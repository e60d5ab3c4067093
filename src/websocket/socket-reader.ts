import { Socket } from "node:net";
import type { RelayStream } from "./relay-stream.js";

/**
 * Reading a busy plain-TCP socket into a buffer of the relay's own, with `net.Socket`'s `onread` mechanism, instead
 * of through its Readable stream: no 64 KiB allocation per read and none of the stream's per-chunk bookkeeping.
 *
 * `onread` is a constructor option, and the relay's sockets come from the HTTP server and `http.request`; the
 * option's three slots are found on a probe socket (by their names: kBuffer, kBufferCb, kBufferGen) and filled in on
 * the live one, as the constructor would, before the handle is switched to the buffer with `useUserBuffer`. Where
 * any of this is missing (another Node, a TLS socket), the socket keeps its `data` events.
 *
 * `pause()`, `resume()`, `end` and `close` keep working: net.Socket handles the `onread` mode in each. Any other
 * stream the relay runs on (an HTTP/2 stream, an in-memory Duplex) keeps its `data` events.
 */

interface OnreadSlots {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/** Bytes per read, as Node's own reads (64 KiB). */
export const READ_BUFFER_SIZE = 64 * 1024;

function findSlots(): OnreadSlots | null {
  try {
    // `onread` is in Node's documentation of the constructor but not in @types/node's SocketConstructorOpts.
    const options = { onread: { buffer: () => Buffer.alloc(1), callback: () => true } };
    const probe = new Socket(options as ConstructorParameters<typeof Socket>[0]);
    const named = new Map<string, symbol>();
    for (const slot of Object.getOwnPropertySymbols(probe)) {
      if (slot.description !== undefined) named.set(slot.description, slot);
    }
    probe.destroy();
    const buffer = named.get("kBuffer");
    const callback = named.get("kBufferCb");
    const generator = named.get("kBufferGen");
    if (buffer === undefined || callback === undefined || generator === undefined) return null;
    return { buffer, callback, generator };
  } catch {
    return null;
  }
}

const slots = findSlots();

function userBufferHandle(socket: RelayStream): UserBufferHandle | null {
  if (!(socket instanceof Socket)) return null;
  if ((socket as Socket & { encrypted?: boolean }).encrypted === true) return null;
  const handle = (socket as unknown as { _handle?: unknown })._handle;
  if (typeof handle !== "object" || handle === null) return null;
  return typeof (handle as Partial<UserBufferHandle>).useUserBuffer === "function"
    ? (handle as UserBufferHandle)
    : null;
}

/** Whether `socket` can be switched to reading into buffers of the caller's. */
export function canReadIntoBuffer(socket: RelayStream): boolean {
  return slots !== null && userBufferHandle(socket) !== null && !(socket as Socket).destroyed;
}

/**
 * From the next read on, `socket`'s bytes go to `onChunk` as views of a buffer that is read into again once
 * `onChunk` returns; `nextBuffer` gives the buffer for the read after (the same one, or a fresh one when a view of
 * it is still held, e.g. by a write that did not complete). Returns false, doing nothing, where not possible.
 * Not to be called from inside one of the socket's own read callbacks (`data` handlers): switching then is left to
 * a later turn of the event loop by the caller.
 */
export function readIntoBuffer(
  socket: RelayStream,
  first: Buffer,
  onChunk: (chunk: Buffer) => void,
  nextBuffer: () => Buffer,
): boolean {
  const handle = userBufferHandle(socket);
  if (slots === null || handle === null || (socket as Socket).destroyed) return false;
  const target = socket as unknown as Record<symbol, unknown>;
  target[slots.buffer] = first;
  target[slots.callback] = (nread: number, buffer: Buffer): boolean => {
    onChunk(buffer.subarray(0, nread));
    return true;
  };
  target[slots.generator] = nextBuffer;
  handle.useUserBuffer(first);
  return true;
}
