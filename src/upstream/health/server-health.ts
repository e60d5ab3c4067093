// One server's health: the outcome of active checks and of real connections (passive), and the one flag
// balancers read. Balancing knows nothing of this; this knows nothing of balancing: it only sets server.healthy.
import type { Logger } from "../../observability/logger.js";
import type { UpstreamServer } from "../server.js";
import type { ServerState, ServerStatus } from "../status.js";
import type { CheckOutcome, PassiveHealthSpec } from "./types.js";

export type ActiveHealth = "unknown" | "healthy" | "unhealthy";

export interface ServerHealthOptions {
  /** Pool label for log lines. */
  pool: string;
  log: Logger;
  /** Active checks run for this server: it starts unknown and waits for its first check. */
  checked: boolean;
  fails: number;
  pass: number;
  passive: PassiveHealthSpec & { fails: number };
  /** Called after every change of state (after the log line). */
  onChange: (health: ServerHealth, previous: ServerState) => void;
}

export class ServerHealth {
  readonly server: UpstreamServer;
  readonly #options: ServerHealthOptions;
  #active: ActiveHealth;
  /** Positive: active checks passed in a row; negative: failed in a row. */
  #streak = 0;
  #lastCheck: { at: number; outcome: CheckOutcome } | undefined;
  #passiveFailures = 0;
  #ejections = 0;
  #ejectedUntil = 0;
  #ejectionTimer: NodeJS.Timeout | undefined;
  #trial = false;
  #state: ServerState;
  #since = Date.now();
  #reason: string;
  #closed = false;

  constructor(server: UpstreamServer, options: ServerHealthOptions) {
    this.server = server;
    this.#options = options;
    this.#active = options.checked ? "unknown" : "healthy";
    this.#reason = options.checked ? "waiting for the first check" : "no active health check";
    this.#state = this.#computeState();
    server.healthy = this.#state === "healthy" || this.#state === "trial";
  }

  get state(): ServerState {
    return this.#state;
  }

  get active(): ActiveHealth {
    return this.#active;
  }

  get ejected(): boolean {
    return this.#ejectedUntil > 0;
  }

  /** When the current ejection ends (ms since the epoch), or 0. */
  get ejectedUntil(): number {
    return this.#ejectedUntil;
  }

  /** Applies one active check: the first decides at once, then `fails` / `pass` in a row flip the health. */
  recordCheck(outcome: CheckOutcome, now = Date.now()): void {
    if (this.#closed) return;
    this.#lastCheck = { at: now, outcome };
    this.#streak = outcome.ok ? Math.max(this.#streak, 0) + 1 : Math.min(this.#streak, 0) - 1;
    const { fails, pass } = this.#options;
    let reason: string | undefined;
    if (this.#active === "unknown") {
      this.#active = outcome.ok ? "healthy" : "unhealthy";
      reason = outcome.ok ? "first check passed" : outcome.reason;
    } else if (this.#active === "healthy" && !outcome.ok && -this.#streak >= fails) {
      this.#active = "unhealthy";
      reason = fails > 1 ? `${outcome.reason} (${fails} failures in a row)` : outcome.reason;
    } else if (this.#active === "unhealthy" && outcome.ok && this.#streak >= pass) {
      this.#active = "healthy";
      reason = pass > 1 ? `${pass} checks passed in a row` : "check passed";
    }
    // A passing check ends an ejection (the back-off level stays until a real connection succeeds).
    if (outcome.ok && this.#active === "healthy" && (this.ejected || this.#trial)) {
      this.#endEjection();
      this.#trial = false;
      this.#passiveFailures = 0;
      reason ??= "health check passed";
    }
    if (reason !== undefined) this.#update(reason);
  }

  /** A real connection reached the backend and was accepted (or properly refused by it). */
  recordSuccess(): void {
    if (this.#closed) return;
    this.#passiveFailures = 0;
    this.#ejections = 0;
    if (!this.ejected && !this.#trial) return;
    const wasTrial = this.#trial;
    this.#endEjection();
    this.#trial = false;
    this.#update(wasTrial ? "trial connection succeeded" : "connection succeeded");
  }

  /** A real connection failed on the backend's side: refused, timed out, reset, a 5xx or a broken 101. */
  recordFailure(reason: string, now = Date.now()): void {
    const passive = this.#options.passive;
    if (this.#closed || !passive.enabled || this.#active !== "healthy" || this.ejected) return;
    if (this.#trial) {
      this.#eject(`trial connection failed: ${reason}`, now);
      return;
    }
    this.#passiveFailures++;
    if (this.#passiveFailures >= passive.fails) {
      const inARow = passive.fails > 1 ? ` (${passive.fails} failures in a row)` : "";
      this.#eject(`${reason}${inARow}`, now);
    }
  }

  status(activeConnections: number): ServerStatus {
    const server = this.server;
    const last = this.#lastCheck;
    return {
      url: server.url.href,
      backend: server.hostPort,
      weight: server.weight,
      tags: server.tags,
      state: this.#state,
      eligible: server.healthy,
      activeConnections,
      since: new Date(this.#since).toISOString(),
      reason: this.#reason,
      ...(this.#options.checked
        ? {
            check: {
              health: this.#active,
              streak: this.#streak,
              ...(last === undefined
                ? {}
                : {
                    lastAt: new Date(last.at).toISOString(),
                    lastOk: last.outcome.ok,
                    ...(last.outcome.ok ? {} : { lastReason: last.outcome.reason }),
                  }),
            },
          }
        : {}),
      passive: {
        consecutiveFailures: this.#passiveFailures,
        ejections: this.#ejections,
        ...(this.ejected ? { ejectedUntil: new Date(this.#ejectedUntil).toISOString() } : {}),
      },
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#ejectionTimer);
  }

  /** Ejects for a back-off that doubles with each ejection in a row, up to maxEjectionTime. */
  #eject(reason: string, now: number): void {
    const { baseEjectionTime, maxEjectionTime } = this.#options.passive;
    this.#ejections++;
    const duration = Math.min(baseEjectionTime * 2 ** Math.min(this.#ejections - 1, 30), maxEjectionTime);
    this.#ejectedUntil = now + duration;
    this.#passiveFailures = 0;
    this.#trial = false;
    clearTimeout(this.#ejectionTimer);
    this.#ejectionTimer = setTimeout(() => {
      this.#ejectedUntil = 0;
      this.#trial = true;
      try {
        this.#update(`ejection of ${duration} ms over; the next connection is a trial`);
      } catch (error) {
        // A timer must not take the process down; the state above is already right.
        this.#options.log.error({ err: error, pool: this.#options.pool }, "recording the end of an ejection failed");
      }
    }, duration).unref();
    this.#update(reason, { ejectionMs: duration, ejections: this.#ejections });
  }

  #endEjection(): void {
    clearTimeout(this.#ejectionTimer);
    this.#ejectionTimer = undefined;
    this.#ejectedUntil = 0;
  }

  #computeState(): ServerState {
    if (this.#active !== "healthy") return this.#active;
    if (this.ejected) return "ejected";
    return this.#trial ? "trial" : "healthy";
  }

  /** Recomputes the state; a change is logged once, with its reason, and sets the flag balancers read. */
  #update(reason: string, extra: Record<string, unknown> = {}): void {
    if (this.#closed) return;
    const previous = this.#state;
    const state = this.#computeState();
    if (state === previous) return;
    this.#state = state;
    this.#since = Date.now();
    this.#reason = reason;
    this.server.healthy = state === "healthy" || state === "trial";
    const entry = {
      event: "backend_health",
      pool: this.#options.pool,
      backend: this.server.hostPort,
      health: state,
      previous,
      reason,
      ...extra,
    };
    const message = `backend ${state === "trial" ? "on trial" : state}`;
    if (state === "unhealthy" || state === "ejected") this.#options.log.warn(entry, message);
    else this.#options.log.info(entry, message);
    this.#options.onChange(this, previous);
  }
}
