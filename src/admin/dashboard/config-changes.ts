// The last config changes as the dashboard lists them: the `config_applied` and `config_rejected` events the reloader
// and the control already log, kept in a small ring as they are logged (nothing else has to know about the ring).
import type { Logger } from "../../observability/logger.js";

/** One config change, as logged. */
export interface ConfigChange {
  /** ISO time. */
  at: string;
  outcome: "applied" | "rejected";
  /** What asked for it: SIGHUP, watch, store. */
  trigger?: string;
  /** `file:line object path: message`, for a rejected change. */
  errors: string[];
  /** The summary of an applied change (objects started, changed, stopped...), as logged. */
  summary?: Record<string, unknown>;
}

const OUTCOMES: Readonly<Record<string, ConfigChange["outcome"]>> = {
  config_applied: "applied",
  config_rejected: "rejected",
  config_apply_failed: "rejected",
};

const SUMMARY_SKIPPED = new Set(["event", "trigger", "errors", "error", "files", "level", "msg", "time"]);

/** The last `capacity` config changes, oldest first. */
export class ConfigChangeRing {
  private readonly changes: ConfigChange[] = [];

  constructor(private readonly capacity = 20) {}

  /** Keeps `line` if it is a config change event; anything else is ignored. */
  observe(line: Readonly<Record<string, unknown>>): void {
    const event = line["event"];
    const outcome = typeof event === "string" ? OUTCOMES[event] : undefined;
    if (outcome === undefined) return;
    const errors = Array.isArray(line["errors"]) ? line["errors"].map(String) : [];
    if (typeof line["error"] === "string") errors.push(line["error"]);
    const summary = Object.fromEntries(Object.entries(line).filter(([key]) => !SUMMARY_SKIPPED.has(key)));
    this.changes.push({
      at: new Date().toISOString(),
      outcome,
      ...(typeof line["trigger"] === "string" ? { trigger: line["trigger"] } : {}),
      errors,
      ...(outcome === "applied" ? { summary } : {}),
    });
    if (this.changes.length > this.capacity) this.changes.shift();
  }

  list(): ConfigChange[] {
    return [...this.changes];
  }
}

/**
 * A child of `log` that also hands every line it writes to `ring`. pino calls `formatters.log` only for lines at an
 * enabled level, so at `--log-level warn` the applied changes (info) are not seen; the rejected ones (error) are.
 */
export function recordConfigChanges(log: Logger, ring: ConfigChangeRing): Logger {
  return log.child(
    {},
    {
      formatters: {
        log(line: object): object {
          ring.observe(line as Readonly<Record<string, unknown>>);
          return line;
        },
      },
    },
  );
}

/**
 * `wsgate run`'s options with a log that records config changes into a new ring, and an admin listener that shows
 * them (nothing changes when the admin API is off).
 */
export function withConfigChanges<T extends { log: Logger; admin: "off" | { configChanges?: ConfigChangeRing } }>(
  options: T,
): T {
  if (options.admin === "off") return options;
  const ring = new ConfigChangeRing();
  return { ...options, log: recordConfigChanges(options.log, ring), admin: { ...options.admin, configChanges: ring } };
}
