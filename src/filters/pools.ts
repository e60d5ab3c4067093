import type { Logger } from "../observability/logger.js";
import type { HandshakeContext } from "../pipeline/context.js";
import { ServerPool, type PoolSpec } from "../upstream/pool.js";
import type { UpstreamStatusRegistry } from "../upstream/status.js";
import type { MatchRequest } from "../upstream/request-matcher.js";
import { BackendTlsTable } from "../upstream/tls-options.js";
import { pathOf } from "./websocket-proxy/passive-report.js";

/** One pool of a proxy filter as built once per config load: the pool and the TLS settings of its backends. */
export interface FilterPool<Spec extends PoolSpec> {
  readonly pool: ServerPool<Spec>;
  readonly tls: BackendTlsTable;
}

/** Whose pools these are, for labels and log lines. */
export interface PoolOwner {
  kind: string;
  filter: string;
  pipeline: string;
  log: Logger;
  /** The gateway's status registry, where the pools list themselves. */
  upstreamStatus: UpstreamStatusRegistry;
}

/**
 * The pools of a proxy filter (WebSocketProxy, Proxy): the main pool (no `filter`) and the candidate pools, the first
 * of which whose filter matches takes a request. `extend` adds what one filter kind keeps per pool (HTTP agents).
 */
export class FilterPools<Spec extends PoolSpec, Entry extends FilterPool<Spec> = FilterPool<Spec>> {
  readonly main: Entry;
  readonly candidates: readonly Entry[];

  constructor(specs: readonly Spec[], owner: PoolOwner, extend: (base: FilterPool<Spec>) => Entry) {
    let main: Entry | undefined;
    const candidates: Entry[] = [];
    for (const [index, spec] of specs.entries()) {
      const label = `${owner.pipeline}/${owner.filter}/pools[${index}]`;
      const tls = new BackendTlsTable(spec, label);
      for (const url of tls.insecure) {
        owner.log.warn(
          { filter: owner.filter, backend: url, event: "insecure_tls" },
          "insecureSkipVerify: this backend's TLS certificate is not verified",
        );
      }
      // Health checks start here: the first round runs while the listeners open.
      const pool = new ServerPool(spec, {
        label,
        log: owner.log.child({ filter: owner.filter }),
        registry: owner.upstreamStatus,
        // Checks of a TLS server use that server's settings (its own over the pool's), as its traffic does.
        tlsFor: (server) => tls.optionsFor(server.url) ?? tls.poolOptions,
      });
      const entry = extend({ pool, tls });
      if (spec.filter === undefined) main ??= entry;
      else candidates.push(entry);
    }
    // The schema guarantees exactly one main pool.
    if (main === undefined) throw new Error(`${owner.kind} ${owner.filter}: no pool without filter`);
    this.main = main;
    this.candidates = candidates;
  }

  /** The first candidate pool whose filter matches the request, else the main pool. */
  choose(context: HandshakeContext): Entry {
    if (this.candidates.length === 0) return this.main;
    const request: MatchRequest = {
      method: context.req.method ?? "GET",
      path: pathOf(context.route.target),
      headers: context.req.headersDistinct,
      clientIp: context.clientIp,
    };
    return this.candidates.find((entry) => entry.pool.matches(request)) ?? this.main;
  }

  /** Every pool, the main one first. */
  get all(): readonly Entry[] {
    return [this.main, ...this.candidates];
  }
}
