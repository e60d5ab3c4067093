// Runs a pool's active checks: a first round for every server at once (before the pool takes traffic), then each
// server on its own fixed-rate schedule, the servers' slots spread evenly over the interval. A server's next check
// is only scheduled once its current one has settled, so checks of one server never overlap, even when the
// timeout is longer than the interval (a late check makes the next one start as soon as it ends).
import type { UpstreamServer } from "../server.js";
import { HttpCheck } from "./http-check.js";
import { reasonOfError } from "./reasons.js";
import type { ServerHealth } from "./server-health.js";
import type { CheckTlsResolver } from "./target.js";
import type { CheckOutcome, HealthCheckSpec } from "./types.js";
import { WsCheck } from "./ws-check.js";

interface Entry {
  readonly health: ServerHealth;
  /** Next slot on this server's schedule (ms since the epoch). */
  nextDue: number;
  lastStart: number;
  timer: NodeJS.Timeout | undefined;
}

export class ActiveHealthChecker {
  readonly #spec: HealthCheckSpec;
  readonly #ws: WsCheck | undefined;
  readonly #http: HttpCheck | undefined;
  readonly #entries: Entry[];
  readonly #abort = new AbortController();
  readonly #onError: (error: unknown) => void;
  #closed = false;
  /** Settles once every server has had its first check. */
  readonly firstRound: Promise<void>;

  /** `onError` hears of a bug in recording a result; checking goes on regardless. */
  constructor(
    spec: HealthCheckSpec,
    healths: readonly ServerHealth[],
    tlsFor: CheckTlsResolver = () => undefined,
    onError: (error: unknown) => void = () => {},
  ) {
    this.#spec = spec;
    this.#onError = onError;
    this.#ws = spec.ws === undefined ? undefined : new WsCheck(spec.ws, tlsFor);
    this.#http = spec.http === undefined ? undefined : new HttpCheck(spec.http, tlsFor);
    const start = Date.now();
    const count = healths.length;
    this.#entries = healths.map((health, index) => {
      // Server i's slots are at start + i/n of the interval, + k intervals: one server checked at a time.
      const phase = (index * spec.interval) / count;
      return { health, nextDue: start + (phase > 0 ? phase : spec.interval), lastStart: start, timer: undefined };
    });
    this.firstRound = Promise.all(this.#entries.map((entry) => this.#run(entry))).then(() => undefined);
    // #run never rejects, so the first round always settles and a pool never waits forever.
  }

  /** Milliseconds until the soonest next check of any server (for Retry-After); 0 when one is running. */
  msUntilNextCheck(now = Date.now()): number {
    let soonest = Infinity;
    for (const entry of this.#entries) {
      soonest = Math.min(soonest, entry.timer === undefined ? 0 : Math.max(0, entry.nextDue - now));
    }
    return soonest === Infinity ? this.#spec.interval : soonest;
  }

  /** Stops every timer and aborts the checks in flight; nothing is recorded after this. */
  close(): void {
    this.#closed = true;
    this.#abort.abort();
    for (const entry of this.#entries) clearTimeout(entry.timer);
  }

  async #run(entry: Entry): Promise<void> {
    if (this.#closed) return;
    entry.timer = undefined;
    entry.lastStart = Date.now();
    const outcome = await this.#check(entry.health.server);
    if (this.#closed) return;
    try {
      entry.health.recordCheck(outcome);
    } catch (error) {
      this.#onError(error);
    }
    this.#schedule(entry);
  }

  #schedule(entry: Entry): void {
    const interval = this.#spec.interval;
    if (entry.nextDue <= entry.lastStart) {
      // Slots missed while the last check ran are skipped: the next slot strictly after its start.
      entry.nextDue += (Math.floor((entry.lastStart - entry.nextDue) / interval) + 1) * interval;
    }
    const delay = Math.max(0, entry.nextDue - Date.now());
    entry.timer = setTimeout(() => void this.#run(entry), delay).unref();
  }

  /** Both checks at once when both are configured; the server must pass both. Never rejects. */
  async #check(server: UpstreamServer): Promise<CheckOutcome> {
    const { timeout } = this.#spec;
    const signal = this.#abort.signal;
    try {
      const outcomes = await Promise.all([
        this.#ws?.run(server, timeout, signal) ?? { ok: true as const },
        this.#http?.run(server, timeout, signal) ?? { ok: true as const },
      ]);
      return outcomes.find((outcome) => !outcome.ok) ?? { ok: true };
    } catch (error) {
      return { ok: false, reason: `check failed: ${reasonOfError(error)}` };
    }
  }
}
