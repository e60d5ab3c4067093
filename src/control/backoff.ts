/** The longest pause between attempts to reach etcd (store and membership). */
export const DEFAULT_MAX_BACKOFF_MS = 5000;

/** Exponential back-off with a cap and some jitter, so members that lost etcd together do not return in lockstep. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs = 100,
    private readonly maxMs = 5000,
  ) {}

  /** The pause before the next attempt; each call doubles it, up to the cap. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  reset(): void {
    this.attempt = 0;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
