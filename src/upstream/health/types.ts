// The health check settings as the pool gets them (validated, defaults applied, durations in milliseconds).

export type StatusRange = readonly [number, number];

export interface HeaderMatchSpec {
  name: string;
  /** Empty: the header only has to be present. */
  value: string;
  type: "exact" | "regexp";
}

export interface BodyMatchSpec {
  value: string;
  type: "contains" | "regexp";
}

export interface WsCheckSpec {
  port?: number;
  uri?: string;
  headers: Readonly<Record<string, string>>;
  match: { statusCodes: readonly StatusRange[]; headers: readonly HeaderMatchSpec[] };
}

export interface HttpCheckSpec {
  port?: number;
  uri?: string;
  method: string;
  headers: Readonly<Record<string, string>>;
  body?: string;
  username?: string;
  password?: string;
  match: { statusCodes: readonly StatusRange[]; headers: readonly HeaderMatchSpec[]; body?: BodyMatchSpec };
}

/** Closing live sessions of a server that active checks mark unhealthy. */
export interface DrainSessionsSpec {
  /** Grace period before the first session is closed. */
  after: number;
  /** The closes are spread evenly over this long. */
  over: number;
}

export interface HealthCheckSpec {
  interval: number;
  timeout: number;
  fails: number;
  pass: number;
  ws?: WsCheckSpec;
  http?: HttpCheckSpec;
  drainSessions?: DrainSessionsSpec;
}

/** Passive health (outlier detection) on real connections. */
export interface PassiveHealthSpec {
  enabled: boolean;
  /** Consecutive failures that eject a server; the health check's `fails`, else 1, when not set. */
  fails?: number;
  /** First ejection; each further ejection in a row doubles it, up to maxEjectionTime. */
  baseEjectionTime: number;
  maxEjectionTime: number;
}

export type CheckOutcome = { ok: true } | { ok: false; reason: string };
