// The request head as a whole, checked once before routing: a head two parsers could read differently (two Host or
// Authorization headers) or one the gateway would keep only part of (too many headers) is refused, never trimmed.
import type { IncomingMessage } from "node:http";
import { DuplicateHeaderError, TooManyHeadersError, type GatewayError } from "../errors.js";

/** Why the request's head is refused, if it is: more than `maxHeaders` headers (431), two Host or Authorization (400). */
export function requestHeadProblem(req: IncomingMessage, maxHeaders: number): GatewayError | undefined {
  const raw = req.rawHeaders;
  // Node's own cut (`maxHeadersCount`) is off for the gateway's servers, so `rawHeaders` holds every header sent.
  if (raw.length / 2 > maxHeaders) return new TooManyHeadersError(maxHeaders);
  // Node keeps the first copy of these; another server behind or in front of the gateway may take the last.
  let hosts = 0;
  let authorizations = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (lower === "host" && ++hosts > 1) return new DuplicateHeaderError("Host");
    if (lower === "authorization" && ++authorizations > 1) return new DuplicateHeaderError("Authorization");
  }
  return undefined;
}
