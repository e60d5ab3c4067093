import { setTimeout as sleep } from "node:timers/promises";
import type { RequestContext } from "../../pipeline/context.js";
import type { Filter, FilterResult } from "../../pipeline/filter.js";
import { pathOf } from "../websocket-proxy/passive-report.js";
import { tooManyRequests } from "../refusals.js";
import type { RateLimiterPolicy, RateLimiterSpec } from "./spec.js";
import { ReservingBucket } from "./token-bucket.js";

/** Buckets not touched for this long and full again are forgotten, so that per-IP keys do not pile up. */
const SWEEP_INTERVAL_MS = 60_000;

interface UrlRule {
  methods: ReadonlySet<string>;
  test: (path: string) => boolean;
  policy: string;
}

/** One policy's buckets, by key; kept across reloads while the policy's numbers stay the same. */
class PolicyBuckets {
  readonly buckets = new Map<string, ReservingBucket>();
  constructor(readonly policy: RateLimiterPolicy) {}

  sameAs(policy: RateLimiterPolicy): boolean {
    return (
      policy.limitForPeriod === this.policy.limitForPeriod &&
      policy.limitRefreshPeriod === this.policy.limitRefreshPeriod
    );
  }

  bucket(key: string): ReservingBucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new ReservingBucket(this.policy.limitForPeriod, this.policy.limitRefreshPeriod);
      this.buckets.set(key, bucket);
    }
    return bucket;
  }
}

/**
 * The RateLimiter filter for handshakes: a token bucket per route, client IP or header value, chosen by the first
 * matching `urls` rule or `defaultPolicyRef`. A request waits up to the policy's `timeoutDuration` for a token, then
 * gets `rateLimited` with a 429 and `Retry-After` prepared (sent unless a `jumpIf` sends the request elsewhere).
 */
export class RateLimiter implements Filter {
  readonly kind = "RateLimiter";
  readonly name: string;
  private readonly rules: UrlRule[];
  private readonly policies = new Map<string, PolicyBuckets>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly spec: RateLimiterSpec,
    previous?: RateLimiter,
  ) {
    this.name = spec.name;
    for (const policy of spec.policies) {
      const inherited = previous?.policies.get(policy.name);
      const buckets = new PolicyBuckets(policy);
      // Easegress Inherit: the counters go on across a reload while the policy's numbers stay the same.
      if (inherited?.sameAs(policy) === true)
        for (const [key, bucket] of inherited.buckets) buckets.buckets.set(key, bucket);
      this.policies.set(policy.name, buckets);
    }
    this.rules = spec.urls.map((rule) => {
      const { exact, prefix, regex } = rule.url;
      const pattern = regex === undefined ? undefined : new RegExp(regex);
      return {
        methods: new Set(rule.methods),
        policy: rule.policyRef,
        test: (path: string) =>
          (exact === undefined || path === exact) &&
          (prefix === undefined || path.startsWith(prefix)) &&
          (pattern === undefined || pattern.test(path)),
      };
    });
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  async handle(context: RequestContext): Promise<FilterResult> {
    const policyName = this.policyFor(context);
    const buckets = policyName === undefined ? undefined : this.policies.get(policyName);
    if (buckets === undefined) return "";
    const key = this.keyOf(context);
    const { waitMs, retryAfterMs } = buckets.bucket(key).reserve(buckets.policy.timeoutDuration);
    if (waitMs < 0) {
      const message = `rate limit of policy ${buckets.policy.name} exceeded`;
      // Sent only if the flow ends here: `jumpIf: {rateLimited: other}` sends the request on to the other filter.
      return {
        result: "rateLimited",
        error: tooManyRequests("WSG_RATE_LIMITED", message, retryAfterMs, "rate limit exceeded"),
      };
    }
    if (waitMs > 0) await sleep(Math.ceil(waitMs));
    return "";
  }

  private policyFor(context: RequestContext): string | undefined {
    const method = context.req.method ?? "GET";
    const path = pathOf(context.route.target || (context.req.url ?? "/"));
    for (const rule of this.rules) {
      if ((rule.methods.size === 0 || rule.methods.has(method)) && rule.test(path)) return rule.policy;
    }
    return this.spec.defaultPolicyRef;
  }

  private keyOf(context: RequestContext): string {
    const { server, match } = context.route;
    const route = `${server}#${match.ruleIndex}.${match.pathIndex}`;
    if (this.spec.keyBy === "ip") return `${route}|${context.clientIp}`;
    if (this.spec.keyBy === "header") {
      const raw = context.req.headers[(this.spec.headerName ?? "").toLowerCase()];
      return `${route}|${Array.isArray(raw) ? raw.join(", ") : (raw ?? "")}`;
    }
    return route;
  }

  private sweep(): void {
    const now = Date.now();
    for (const { buckets } of this.policies.values()) {
      for (const [key, bucket] of buckets) if (bucket.isFull(now)) buckets.delete(key);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
