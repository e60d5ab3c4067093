// The status model of every pool: one place, read from the same objects that balancing and health use, so what an
// admin view shows is what selection sees. One registry per Gateway (its pools list themselves in it): the admin API
// serves its `pools()`, and the gateway's metrics read it through observability's PoolStatusReader.

/** What selection makes of a server right now. */
export type ServerState = "unknown" | "healthy" | "unhealthy" | "ejected" | "trial" | "draining";

export interface ServerStatus {
  url: string;
  /** "host:port", as in log lines. */
  backend: string;
  weight: number;
  tags: readonly string[];
  state: ServerState;
  /** Takes new connections (healthy, or on trial after an ejection). */
  eligible: boolean;
  /** Live WebSocket sessions on this server. */
  activeConnections: number;
  /** When the state last changed (ISO time), and why. */
  since: string;
  reason: string;
  /** Active checks: undefined when the pool has none. */
  check?: {
    health: "unknown" | "healthy" | "unhealthy";
    lastAt?: string;
    lastOk?: boolean;
    lastReason?: string;
    /** Positive: passes in a row; negative: failures in a row. */
    streak: number;
  };
  passive: {
    consecutiveFailures: number;
    /** Ejections in a row (the back-off level); 0 once a connection succeeds. */
    ejections: number;
    ejectedUntil?: string;
  };
}

export interface PoolStatus {
  /** "pipeline/filter/pools[i]". */
  pool: string;
  /** The pool without `filter`; the others are candidates. */
  main: boolean;
  policy: string;
  healthCheck: boolean;
  /** Some server takes new connections. */
  available: boolean;
  servers: ServerStatus[];
}

/** What an operator's drain did to one server of one pool. */
export interface DrainedServer {
  pool: string;
  backend: string;
  url: string;
  /** Live sessions that will be closed with `code`, one every overMs/sessions. */
  sessions: number;
  overMs: number;
  /** 1001, or the pool's `backendCloseCodes.drained`. */
  code: number;
}

export interface StatusSource {
  status(): PoolStatus;
  /** Drains the pool's servers that `server` names (see serverMatches); what it did to each. */
  drainServer?(server: string, overMs: number): DrainedServer[];
}

/** Every live pool of one gateway, as registered by the pools themselves (and removed when they close). */
export class UpstreamStatusRegistry {
  readonly #sources = new Set<StatusSource>();

  add(source: StatusSource): void {
    this.#sources.add(source);
  }

  delete(source: StatusSource): void {
    this.#sources.delete(source);
  }

  /** A snapshot of every pool, in the order they were built. */
  pools(): PoolStatus[] {
    return [...this.#sources].map((source) => source.status());
  }

  /** Drains the servers `server` names in every pool, or only in the pool labelled `pool`. */
  drain(server: string, overMs: number, pool?: string): DrainedServer[] {
    const drained: DrainedServer[] = [];
    for (const source of this.#sources) {
      if (pool !== undefined && source.status().pool !== pool) continue;
      drained.push(...(source.drainServer?.(server, overMs) ?? []));
    }
    return drained;
  }

  /** One pool by its label. */
  pool(label: string): PoolStatus | undefined {
    return this.pools().find((status) => status.pool === label);
  }
}
