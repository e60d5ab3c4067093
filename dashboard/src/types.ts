// What the admin API's dashboard stream carries (src/admin/dashboard/feed.ts), as far as the page reads it.

export interface RateSample {
  t: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  handshakes: Record<string, number>;
  closes: Record<string, number>;
  refusals: Record<string, number>;
  /** Absent from a gateway older than the page. */
  refusalReasons?: Record<string, number>;
}

export interface SessionRow {
  id: string;
  server: string;
  route: string;
  pipeline: string;
  backend: string;
  client: string;
  ageMs: number;
  clientMessages: number;
  clientBytes: number;
  backendMessages: number;
  backendBytes: number;
  /** The negotiated subprotocol; absent when none. */
  protocol?: string;
  /** When a lifetime policy (token expiry, maxSessionDuration) closes the session: epoch ms; absent when none. */
  deadline?: number;
}

export interface ServerRow {
  url: string;
  backend: string;
  weight: number;
  state: string;
  activeConnections: number;
  reason: string;
  check?: { health: string; lastAt?: string; lastOk?: boolean; lastReason?: string };
}

export interface PoolRow {
  pool: string;
  policy: string;
  healthCheck: boolean;
  available: boolean;
  servers: ServerRow[];
}

export interface ConfigChange {
  at: string;
  outcome: "applied" | "rejected";
  trigger?: string;
  errors: string[];
  summary?: Record<string, unknown>;
}

export interface DashboardState {
  t: number;
  sessionCount: number;
  counts: { servers: Record<string, number>; routes: Record<string, number>; backends: Record<string, number> };
  sessions: SessionRow[];
  pools: PoolRow[];
  objects: Array<{ name: string; kind: string; revision: number; source?: string }>;
  configChanges: ConfigChange[];
  lastApplyError: string | null;
  members?: {
    members: Array<{ id: string; address: string; adminAddress?: string; sessions: number; version: string }>;
    error?: string;
  };
}
