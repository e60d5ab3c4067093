import type { IncomingMessage } from "node:http";
import { BodyTooLargeError } from "./errors.js";

/** Objects are small; a larger body is a mistake or an attack. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** The request body as UTF-8 text; throws BodyTooLargeError past `limit` bytes (and stops reading). */
export async function readBody(request: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  const declared = Number(request.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLargeError(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
