// The status model of every pool: one place, read from the same objects that balancing and health use, so what an
// admin view shows is what selection sees. The admin API (a later issue) serves `upstreamStatus.pools()`.

/** What selection makes of a server right now. */
export type ServerState = "unknown" | "healthy" | "unhealthy" | "ejected" | "trial";

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

export interface StatusSource {
  status(): PoolStatus;
}

/** Every live pool of the process, as registered by the pools themselves (and removed when they close). */
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

  /** One pool by its label. */
  pool(label: string): PoolStatus | undefined {
    return this.pools().find((status) => status.pool === label);
  }
}

export const upstreamStatus = new UpstreamStatusRegistry();
