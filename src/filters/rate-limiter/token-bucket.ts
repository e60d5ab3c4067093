/**
 * A token bucket that hands out reservations: `limit` tokens refill evenly over `periodMs`, the bucket holds at most
 * `limit`, and a caller may reserve a token that only becomes available later (the level goes below zero), so that
 * concurrent callers are counted exactly and served in order.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly limit: number,
    readonly periodMs: number,
    now = Date.now(),
  ) {
    this.tokens = limit;
    this.updatedAt = now;
  }

  private refill(now: number): void {
    if (now > this.updatedAt) {
      this.tokens = Math.min(this.limit, this.tokens + ((now - this.updatedAt) * this.limit) / this.periodMs);
      this.updatedAt = now;
    }
  }

  /**
   * Takes `count` tokens if they are there now or within `maxWaitMs`: returns the wait in ms (0 = now), or, when the
   * wait would be longer, -1 and nothing is taken; `retryAfterMs` then says when a token would be free.
   */
  reserve(maxWaitMs: number, count = 1, now = Date.now()): { waitMs: number; retryAfterMs: number } {
    this.refill(now);
    const after = this.tokens - count;
    const waitMs = after >= 0 ? 0 : (-after * this.periodMs) / this.limit;
    if (waitMs > maxWaitMs) {
      const retryAfterMs = ((count - this.tokens) * this.periodMs) / this.limit;
      return { waitMs: -1, retryAfterMs };
    }
    this.tokens = after;
    return { waitMs, retryAfterMs: 0 };
  }

  /** The bucket is full again: it may be forgotten without changing anyone's limit. */
  isFull(now = Date.now()): boolean {
    this.refill(now);
    return this.tokens >= this.limit;
  }
}
