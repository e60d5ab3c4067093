// Headers the gateway sets itself for the backend, and the rule that keeps a client's copies of them out: one
// matcher, applied once by each upstream header builder (Proxy, WebSocketProxy). Names are compared as CGI, WSGI and
// PHP backends read them (`X-Role`, `x_role` and `X_ROLE` are all HTTP_X_ROLE), so no spelling slips past.

import { headerKey, headerKeys } from "../util/http/header-key.js";

// Kept for the code that read them here before they moved down to util/ (issue 16).
export { headerKey, headerKeys };

/** What the gateway writes on every backend request, whatever the filters do. */
const GATEWAY_SET: ReadonlySet<string> = headerKeys([
  "host",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
]);

/**
 * The headers one request's backend request takes from the gateway only: those it always sets, those its filters set
 * or may set (JWT claims, even when the claim is missing), and the TLS client-certificate ones.
 */
export class OwnedHeaders {
  readonly #own = new Set<string>();
  readonly #shared: Array<ReadonlySet<string>> = [GATEWAY_SET];

  /** Owns `name` for this request: the client's copies are removed whether or not the gateway sets a value. */
  own(name: string): void {
    this.#own.add(headerKey(name));
  }

  /** Owns a set of keys made once (see `headerKeys`), e.g. every header a pipeline's filters may set. */
  ownAll(keys: ReadonlySet<string>): void {
    if (keys.size > 0 && !this.#shared.includes(keys)) this.#shared.push(keys);
  }

  owns(name: string): boolean {
    const key = headerKey(name);
    return this.#own.has(key) || this.#shared.some((keys) => keys.has(key));
  }
}

/** The client's headers that may go to the backend: those whose names the gateway does not own, in their order. */
export function clientHeadersToForward(
  headers: Iterable<readonly [string, string]>,
  owned: OwnedHeaders,
): Array<[string, string]> {
  const kept: Array<[string, string]> = [];
  for (const [name, value] of headers) if (!owned.owns(name)) kept.push([name, value]);
  return kept;
}
