import type { IncomingMessage } from "node:http";
import { InvalidRevisionError } from "./errors.js";

export { canonicalJson } from "../util/canonical-json.js";

/** The revision an update must match: `If-Match: "3"` (an ETag as GET gives it) or `?revision=3`; none for `*`. */
export function expectedRevision(request: IncomingMessage, query: URLSearchParams): number | undefined {
  const text = query.get("revision") ?? request.headers["if-match"];
  if (text === undefined || text.trim() === "*") return undefined;
  const match = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(text);
  if (match === null) throw new InvalidRevisionError(text);
  return Number(match[1]);
}

/** Headers that tell a reader which revision it got, for a later If-Match. */
export function revisionHeaders(revision: number): Record<string, string> {
  return { "X-Object-Revision": String(revision), ETag: `"${revision}"` };
}
