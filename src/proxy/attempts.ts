// The attempt loop both proxy filters run (pingora's `proxy_to_upstream`): pick a server of the pool, try it, and on
// a failure report it once to the pool (passive health) and ask the error whether another server may be tried. A
// filter supplies only its phases: how one try goes, how an answer is judged, and whether its request may go again.
import { NoUpstreamError, type GatewayError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { upstreamFailed, type TrafficRecord } from "../observability/traffic-events.js";
import type { BalanceContext } from "../upstream/balance-types.js";
import { failureReason } from "../upstream/connect/failure.js";
import type { PoolSpec, ServerPool } from "../upstream/pool.js";
import { describeServer, type UpstreamServer } from "../upstream/server.js";

/** How one try on one server went. */
export type AttemptOutcome<Answer> =
  /** The server answered (a 101, a refusal, an HTTP response): judged once by `UpstreamPhases.judgeAnswer`. */
  | { kind: "answered"; answer: Answer }
  /**
   * No answer. `counts`: the failure is the server's (not when the client left, or a kept-alive connection the
   * backend had just closed). `sameServerAgain`: that stale connection case, where the same server may be tried again.
   */
  | { kind: "failed"; error: GatewayError; counts: boolean; sameServerAgain?: boolean }
  /** The exchange ended on the client's side (it left, or its body went over a limit); `result` for the flow. */
  | { kind: "ended"; result: string };

/** What the loop ends with. */
export type ProxyOutcome<Answer> =
  | { kind: "answered"; server: UpstreamServer; answer: Answer }
  /** No server could answer: the client is to get `error` (the last failure, or "no healthy backend"). */
  | { kind: "refused"; error: GatewayError }
  | { kind: "ended"; result: string };

/** A proxy filter's phases; the loop calls them, owns the retries and reports every outcome to the pool. */
export interface UpstreamPhases<Answer> {
  /** One try on `server`. */
  connect(server: UpstreamServer): Promise<AttemptOutcome<Answer>>;
  /** Passive health of an answer: undefined when it says the server is alive, else the failure's reason. */
  judgeAnswer(answer: Answer): string | undefined;
  /** Whether this request may go to a server again after a retryable failure (default: always). */
  mayRetry?(error: GatewayError): boolean;
  /** Tries of the same server allowed for stale kept-alive connections (default 0). */
  readonly sameServerRetries?: number;
  /** The request was answered meanwhile (default: never): no other try is made. */
  finished?(): boolean;
}

/** The refusal when no server of the pool can take a request: 503 with Retry-After (the next health check). */
export function noHealthyBackend(pool: ServerPool<PoolSpec>): NoUpstreamError {
  return new NoUpstreamError(pool.retryAfterSeconds(), `no healthy backend in pool ${pool.label}`);
}

/** The request the attempts are for, as far as the loop needs it: its logger, and where failures are counted. */
export interface AttemptRecord extends Pick<TrafficRecord, "telemetry"> {
  readonly log: Logger;
}

/**
 * Runs the attempts of one request on `pool`: each server at most once (plus its `sameServerRetries`), until one
 * answers, a failure says it may not be retried, or no server is left.
 */
export async function proxyAttempts<Answer, Spec extends PoolSpec>(
  pool: ServerPool<Spec>,
  balance: BalanceContext,
  phases: UpstreamPhases<Answer>,
  record: AttemptRecord,
): Promise<ProxyOutcome<Answer>> {
  // Until the first round of health checks is done, no server is known to be healthy.
  if (!pool.isReady) await pool.ready;
  const tried = new Set<UpstreamServer>();
  const sameServerRetries = phases.sameServerRetries ?? 0;
  let sameServerTries = 0;
  let lastError: GatewayError | undefined;
  for (;;) {
    if (phases.finished?.() === true) return { kind: "ended", result: "" };
    const server = pool.pick(balance, tried);
    if (server === undefined) return { kind: "refused", error: lastError ?? noHealthyBackend(pool) };
    const outcome = await phases.connect(server);
    if (outcome.kind === "ended") return outcome;
    if (outcome.kind === "answered") {
      reportAnswer(pool, server, phases.judgeAnswer(outcome.answer));
      return { kind: "answered", server, answer: outcome.answer };
    }
    const { error } = outcome;
    if (outcome.counts) reportFailure(record, pool, server, error);
    // The error says whether another try may follow; a stale kept-alive connection always may.
    const again = (error.retryable || outcome.sameServerAgain === true) && (phases.mayRetry?.(error) ?? true);
    // A kept-alive connection the backend had just closed says nothing about the server: try it again.
    if (again && outcome.sameServerAgain === true && sameServerTries < sameServerRetries) {
      sameServerTries++;
      continue;
    }
    tried.add(server);
    if (!again) return { kind: "refused", error };
    record.log.warn({ backend: describeServer(server), reason: error.message }, "backend connect failed");
    lastError = error;
  }
}

/** Passive health, failures: the pool's count and the upstream-failure metric, once per failed try. */
function reportFailure<Spec extends PoolSpec>(
  record: AttemptRecord,
  pool: ServerPool<Spec>,
  server: UpstreamServer,
  error: GatewayError,
): void {
  pool.reportFailure(server, failureReason(error));
  upstreamFailed(record, pool.label, describeServer(server), error);
}

function reportAnswer<Spec extends PoolSpec>(
  pool: ServerPool<Spec>,
  server: UpstreamServer,
  failure: string | undefined,
): void {
  if (failure === undefined) pool.reportSuccess(server);
  else pool.reportFailure(server, failure);
}
