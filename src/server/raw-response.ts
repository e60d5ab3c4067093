import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

/**
 * Answers on a raw socket (an upgrade request has no ServerResponse) and closes the connection once it is out.
 * The body is a short plain-text reason.
 */
export function writeRawResponse(
  socket: Duplex,
  status: number,
  reason: string,
  headers: Readonly<Record<string, string>> = {},
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
  socket.end(head + body);
}
