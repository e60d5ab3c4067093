import { TokenBucket } from "../../util/token-bucket.js";

/**
 * The RateLimiter's bucket: `limit` tokens refill evenly over `periodMs`, and a caller may reserve a token that only
 * becomes available later (the level goes below zero), so that concurrent callers are counted exactly and served in
 * order. The refill itself is the one token bucket of the project (util/token-bucket.ts).
 */
export class ReservingBucket {
  private readonly bucket: TokenBucket;

  constructor(
    readonly limit: number,
    readonly periodMs: number,
    now = Date.now(),
  ) {
    this.bucket = new TokenBucket((limit * 1000) / periodMs, limit, now);
  }

  /**
   * Takes `count` tokens if they are there now or within `maxWaitMs`: returns the wait in ms (0 = now), or, when the
   * wait would be longer, -1 and nothing is taken; `retryAfterMs` then says when a token would be free.
   */
  reserve(maxWaitMs: number, count = 1, now = Date.now()): { waitMs: number; retryAfterMs: number } {
    const waitMs = this.bucket.waitFor(count, now);
    if (waitMs > maxWaitMs) return { waitMs: -1, retryAfterMs: waitMs };
    this.bucket.take(count);
    return { waitMs, retryAfterMs: 0 };
  }

  /** The bucket is full again: it may be forgotten without changing anyone's limit. */
  isFull(now = Date.now()): boolean {
    return this.bucket.waitFor(this.limit, now) === 0;
  }
}
