// What a WebSocketProxy's sessions share: the relay's options and the session's origin are the same for every
// session of one route, pool and backend, so they are made once and held by the filter, not by each session (an idle
// session is mostly what it holds: these were ~200 B of each, and the FrameStream options the relay derives from a
// shared RelayOptions are shared too, see relay.ts).
import type { RouteTallies } from "../../observability/message-metrics.js";
import type { SessionOrigin } from "../../observability/sessions.js";
import type { UpstreamServer } from "../../upstream/server.js";
import type { RelayDeadline, RelayOptions } from "../../websocket/relay.js";
import type { RelayLimits } from "./relay-limits.js";
import { sessionRelayOptions } from "./resume.js";
import type { ClientMessageInspector } from "../../websocket/relay.js";
import type { WebSocketProxyPool, WebSocketProxySpec } from "./spec.js";

/** What only one session has: its rate gates' buckets, its deadline and the inspector of its credential's renewal. */
export interface SessionOwnParts {
  clientRate?: RelayLimits["clientRate"];
  backendRate?: RelayLimits["backendRate"];
  deadline?: RelayDeadline;
  clientInspector?: ClientMessageInspector;
}

export class SharedSessionParts {
  /** By the route's tallies (one object per server and route, made anew after a reload forgot it), pool, RSV rules. */
  readonly #relay = new WeakMap<RouteTallies, Map<WebSocketProxyPool, Map<number, RelayOptions>>>();
  /** By backend, then route. */
  readonly #origins = new WeakMap<UpstreamServer, Map<string, SessionOrigin>>();

  constructor(
    private readonly spec: WebSocketProxySpec,
    /** The filter's frame limits (plain data, shared). */
    private readonly frameLimits: Pick<RelayLimits, "clientFrameLimits" | "backendFrameLimits">,
    private readonly filter: string,
    private readonly pipelineInstance: number,
  ) {}

  /**
   * The relay's options for a session: the shared object itself when the session has nothing of its own, else a
   * copy with its own parts added.
   */
  relayOptions(
    pool: WebSocketProxyPool,
    negotiated: { firstFrameRsv: number; anyRsv: boolean },
    tallies: RouteTallies,
    own: SessionOwnParts,
  ): RelayOptions {
    const shared = this.sharedRelayOptions(pool, negotiated, tallies);
    const alone =
      own.clientRate === undefined &&
      own.backendRate === undefined &&
      own.deadline === undefined &&
      own.clientInspector === undefined;
    return alone ? shared : { ...shared, ...own };
  }

  private sharedRelayOptions(
    pool: WebSocketProxyPool,
    negotiated: { firstFrameRsv: number; anyRsv: boolean },
    tallies: RouteTallies,
  ): RelayOptions {
    let byPool = this.#relay.get(tallies);
    if (byPool === undefined) {
      byPool = new Map();
      this.#relay.set(tallies, byPool);
    }
    let byRsv = byPool.get(pool);
    if (byRsv === undefined) {
      byRsv = new Map();
      byPool.set(pool, byRsv);
    }
    const key = negotiated.firstFrameRsv * 2 + (negotiated.anyRsv ? 1 : 0);
    let options = byRsv.get(key);
    if (options === undefined) {
      options = { ...sessionRelayOptions(this.spec, pool, negotiated, tallies), ...this.frameLimits };
      byRsv.set(key, options);
    }
    return options;
  }

  /** Where a session on `server` of `pool`, come in by the route `routeKey`, started. */
  origin(routeKey: string, pool: WebSocketProxyPool, server: UpstreamServer): SessionOrigin {
    let byRoute = this.#origins.get(server);
    if (byRoute === undefined) {
      byRoute = new Map();
      this.#origins.set(server, byRoute);
    }
    let origin = byRoute.get(routeKey);
    if (origin === undefined) {
      origin = {
        pipelineInstance: this.pipelineInstance,
        routeKey,
        filter: this.filter,
        poolIndex: this.spec.pools.indexOf(pool),
        backendUrl: server.url.href,
        drainWindow: this.spec.drainWindow,
      };
      byRoute.set(routeKey, origin);
    }
    return origin;
  }
}
