// Sticky sessions (mode CookieConsistentHash): a cookie names a point on a consistent-hash ring, and the server
// owning that point takes the client again. The gateway sets that cookie itself on the 101 (lbCookieName).
import type { BalanceContext } from "./balance-types.js";
import { cookieValue } from "./cookies.js";
import { hash32 } from "./hash32.js";
import { HashRing } from "./hash-ring.js";
import type { UpstreamServer } from "./server.js";

export const STICKY_SESSION_MODES = ["CookieConsistentHash"] as const;
export type StickySessionMode = (typeof STICKY_SESSION_MODES)[number];

export interface StickySessionSpec {
  mode: StickySessionMode;
  /** An application cookie (a session id) whose value is hashed when the gateway's own cookie is absent. */
  appCookieName?: string;
  /** The gateway's cookie: set on every 101 and followed on reconnect. */
  lbCookieName?: string;
  /** Lifetime of the gateway's cookie, in milliseconds. */
  lbCookieExpire: number;
}

/** The gateway's cookie holds a ring point as 8 hex digits; any other value is hashed onto the ring. */
const POINT_PATTERN = /^[0-9a-f]{8}$/;

function pointOfValue(value: string): number {
  return POINT_PATTERN.test(value) ? Number.parseInt(value, 16) : hash32(value);
}

export class StickySession {
  readonly #spec: StickySessionSpec;
  readonly #ring: HashRing;
  readonly #random: () => number;

  constructor(spec: StickySessionSpec, servers: readonly UpstreamServer[], random: () => number = Math.random) {
    this.#spec = spec;
    this.#ring = new HashRing(servers);
    this.#random = random;
  }

  /**
   * The server the request's cookie leads to: the owner of its point, or the next eligible server clockwise when
   * the owner is unhealthy or excluded. Undefined when the request carries neither cookie.
   */
  pick(context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    const point = this.#requestPoint(context);
    return point === undefined ? undefined : this.#ring.pick(point, exclude);
  }

  /**
   * The Set-Cookie value for a 101 from `server`: the request's own cookie when it already leads there (its expiry
   * renewed), else a new point owned by `server`. Undefined when no lbCookieName is configured.
   */
  setCookie(server: UpstreamServer, context: BalanceContext, now = Date.now()): string | undefined {
    const name = this.#spec.lbCookieName;
    if (name === undefined) return undefined;
    const current = cookieValue(context.headers, name);
    let value: string | undefined;
    if (current !== undefined && POINT_PATTERN.test(current) && this.#ring.ownerOf(pointOfValue(current)) === server) {
      value = current;
    } else {
      const point = this.#ring.pointOf(server, this.#random);
      if (point !== undefined) value = point.toString(16).padStart(8, "0");
    }
    if (value === undefined) return undefined;
    const expire = this.#spec.lbCookieExpire;
    const maxAge = Math.max(1, Math.ceil(expire / 1000));
    return `${name}=${value}; Path=/; Max-Age=${maxAge}; Expires=${new Date(now + expire).toUTCString()}; HttpOnly`;
  }

  #requestPoint(context: BalanceContext): number | undefined {
    const { lbCookieName, appCookieName } = this.#spec;
    const own = lbCookieName === undefined ? undefined : cookieValue(context.headers, lbCookieName);
    if (own !== undefined && own !== "") return pointOfValue(own);
    const app = appCookieName === undefined ? undefined : cookieValue(context.headers, appCookieName);
    if (app !== undefined && app !== "") return hash32(app);
    return undefined;
  }
}
