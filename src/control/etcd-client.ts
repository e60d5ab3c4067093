import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, noop, retry } from "cockatiel";
import type { IBackoff } from "cockatiel";
import { Etcd3, isRecoverableError } from "etcd3";
import { DEFAULT_MAX_BACKOFF_MS } from "./backoff.js";

export interface EtcdClientOptions {
  /** `http://host:port` URLs. */
  endpoints: readonly string[];
  /** Deadline of each unary call; etcd3's default retry policy would otherwise let a call hang while etcd is down. */
  callTimeoutMs?: number;
  /** Longest pause between two attempts to re-open the watch stream. */
  maxBackoffMs?: number;
}

export const DEFAULT_CALL_TIMEOUT_MS = 3000;

/**
 * An etcd client that fails fast while etcd is away: every unary call has a deadline, a call is retried only on
 * another endpoint, a dead endpoint is skipped for a second, and the watch stream reconnects with a capped back-off.
 * The store and membership do their own retrying on top, so they can log state changes and keep serving.
 */
export function createEtcdClient(options: EtcdClientOptions): Etcd3 {
  const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const otherEndpoints = options.endpoints.length - 1;
  return new Etcd3({
    hosts: [...options.endpoints],
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    // Pings find a silently dead etcd (no RST, e.g. a partition); etcd tolerates pings every 5 s or slower.
    grpcOptions: { "grpc.keepalive_time_ms": 10_000, "grpc.keepalive_timeout_ms": 5000 },
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
      global: otherEndpoints > 0 ? retry(handleWhen(isRecoverableError), { maxAttempts: otherEndpoints }) : noop,
      // etcd3 declares an IBackoff here but calls it as a factory (its own default is `new ExponentialBackoff()`).
      watchBackoff: new ExponentialBackoff({
        initialDelay: 100,
        maxDelay: options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
      }) as unknown as IBackoff<unknown>,
    },
  });
}
