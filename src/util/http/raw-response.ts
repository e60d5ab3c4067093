import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

/** How long a refused client gets to close its end before the gateway lets go of the socket. */
const LINGER_MS = 2000;

/**
 * Answers on a raw socket (an upgrade request has no ServerResponse) and closes the connection once it is out.
 * The body is a short plain-text reason. The server allows half-open connections, so a client that never
 * closes its end would keep the socket forever: its later bytes are read and dropped, and it is let go of
 * when it closes or after a short linger.
 */
export function writeRawResponse(
  socket: Duplex,
  status: number,
  reason: string,
  headers: Readonly<Record<string, string>> = {},
  shed = false,
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${reason}\n`;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  head +=
    "Content-Type: text/plain; charset=utf-8\r\n" +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    "Connection: close\r\n\r\n";
  if (shed) {
    // Overload: the connection slot is worth more than a polite close.
    socket.end(head + body, () => socket.destroy());
    return;
  }
  socket.end(head + body);
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once("end", () => socket.destroy());
  socket.once("close", () => clearTimeout(linger));
  socket.resume();
}
