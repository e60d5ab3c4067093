/** A bucket's level, as plain data. */
export interface TokenBucketSnapshot {
  tokens: number;
  updatedAt: number;
}

/**
 * Tokens refilled continuously at `perSecond`, up to `size` (the burst), starting full. The level may go below zero
 * (a debt to wait off) where a taker allows it: a byte allowance lets a whole frame through once out of debt.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly size: number,
    now: number,
  ) {
    this.tokens = size;
    this.updatedAt = now;
  }

  snapshot(): TokenBucketSnapshot {
    return { tokens: this.tokens, updatedAt: this.updatedAt };
  }

  restore(snapshot: TokenBucketSnapshot): void {
    this.tokens = Math.min(this.size, snapshot.tokens);
    this.updatedAt = snapshot.updatedAt;
  }

  /** Refills up to `now`; returns how long (ms) until the level is at least `level`, 0 when it is already. */
  waitFor(level: number, now: number): number {
    if (now > this.updatedAt) {
      this.tokens = Math.min(this.size, this.tokens + ((now - this.updatedAt) * this.perSecond) / 1000);
      this.updatedAt = now;
    }
    return this.tokens >= level ? 0 : ((level - this.tokens) * 1000) / this.perSecond;
  }

  /** Takes `count` (after `waitFor`, at the same time). */
  take(count: number): void {
    this.tokens -= count;
  }

  /** Takes one token if there is one (refilled up to `now`); false when the bucket is empty. */
  tryTake(now: number): boolean {
    if (this.waitFor(1, now) > 0) return false;
    this.tokens -= 1;
    return true;
  }
}
