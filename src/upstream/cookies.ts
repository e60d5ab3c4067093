// Reading one cookie out of a request's Cookie header(s).
import type { IncomingHttpHeaders } from "node:http";

/**
 * The value of cookie `name` in the request, or undefined. Node joins repeated Cookie headers with "; ", so one
 * scan covers them all; the first occurrence wins, as browsers send the most specific cookie first.
 */
export function cookieValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const header = headers.cookie;
  if (header === undefined || header.length === 0) return undefined;
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=");
    if (equals < 0 || pair.slice(0, equals).trim() !== name) continue;
    let value = pair.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}
