// A cookie's value on a consistent-hash ring: one application session (a session id cookie) sticks to one server.
import type { BalanceContext, LoadBalancer } from "../balance-types.js";
import { cookieValue } from "../cookies.js";
import { hash32 } from "../hash32.js";
import { HashRing } from "../hash-ring.js";
import type { UpstreamServer } from "../server.js";
import { hashClientIp } from "./ip-hash.js";

/**
 * Requests without the cookie (a client's first visit, typically) hash their client IP instead, so that they
 * spread over the servers rather than all landing on the owner of the empty string.
 */
export class CookieHashBalancer implements LoadBalancer {
  readonly #ring: HashRing;
  readonly #cookieName: string;

  constructor(servers: readonly UpstreamServer[], cookieName: string) {
    this.#ring = new HashRing(servers);
    this.#cookieName = cookieName;
  }

  pick(context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    const value = cookieValue(context.headers, this.#cookieName);
    const key = value === undefined || value.length === 0 ? hashClientIp(context.clientIp) : hash32(value);
    return this.#ring.pick(key, exclude);
  }
}
