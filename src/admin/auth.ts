import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { UnauthorizedError } from "./errors.js";

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

/**
 * Checks `Authorization: Bearer TOKEN` against the admin token. Both sides are hashed first, so the comparison takes
 * the same time whatever the length or content of the guess.
 */
export function checkBearer(request: IncomingMessage, token: string | undefined): void {
  if (token === undefined) return;
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  const given = match?.[1];
  if (given === undefined) throw new UnauthorizedError(header !== undefined);
  if (!timingSafeEqual(digest(given), digest(token))) throw new UnauthorizedError(true);
}
