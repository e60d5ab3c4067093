/** What to do with a peer that sends faster than its rate: slow it down (pause reading) or close it with 1008. */
export type RateLimitAction = "pause" | "close";

export interface RateGateLimits {
  /** Data messages per second; 0 for no limit. */
  maxMsgRate: number;
  /** Bytes (on the wire) per second; 0 for no limit. */
  maxByteRate: number;
  action: RateLimitAction;
}

/** One allowance's level, as plain data. */
export interface AllowanceSnapshot {
  tokens: number;
  updatedAt: number;
}

/** A gate's progress (what each allowance holds, what it has counted), as plain data. */
export interface RateGateSnapshot {
  messages: AllowanceSnapshot | null;
  bytes: AllowanceSnapshot | null;
  seenMessages: number;
}

/** Tokens of one rate: at most one second's worth, refilled continuously; may go below zero (a debt to wait off). */
class Allowance {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = perSecond;
    this.updatedAt = now;
  }

  snapshot(): AllowanceSnapshot {
    return { tokens: this.tokens, updatedAt: this.updatedAt };
  }

  restore(snapshot: AllowanceSnapshot): void {
    this.tokens = snapshot.tokens;
    this.updatedAt = snapshot.updatedAt;
  }

  /** Takes `count` and returns how long (ms) until the level is back at zero; 0 when there was enough. */
  take(count: number, now: number): number {
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.updatedAt) * this.perSecond) / 1000);
    this.updatedAt = now;
    this.tokens -= count;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.perSecond;
  }
}

/**
 * The message and byte rate of one side of a session, checked per chunk read: the relay asks after each chunk
 * whether that side is over its rate, and if so pauses reading it for as long as the debt takes to pay off (or
 * closes it, with `action: close`). The timer that resumes reading is the gate's own.
 */
export class RateGate {
  private readonly messages: Allowance | undefined;
  private readonly bytes: Allowance | undefined;
  private seenMessages = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly limits: RateGateLimits,
    now = Date.now(),
  ) {
    this.messages = limits.maxMsgRate > 0 ? new Allowance(limits.maxMsgRate, now) : undefined;
    this.bytes = limits.maxByteRate > 0 ? new Allowance(limits.maxByteRate, now) : undefined;
  }

  /** Any limit set at all. */
  static wanted(limits: RateGateLimits): boolean {
    return limits.maxMsgRate > 0 || limits.maxByteRate > 0;
  }

  /** Reading this side waits for the gate's timer. */
  get held(): boolean {
    return this.timer !== undefined;
  }

  /**
   * Accounts a chunk of `bytes` after which the side's stream has completed `messagesSoFar` messages; returns how
   * long (ms) reading must pause, 0 to go on.
   */
  admit(bytes: number, messagesSoFar: number, now = Date.now()): number {
    const newMessages = messagesSoFar - this.seenMessages;
    this.seenMessages = messagesSoFar;
    const forMessages = this.messages === undefined || newMessages <= 0 ? 0 : this.messages.take(newMessages, now);
    const forBytes = this.bytes === undefined ? 0 : this.bytes.take(bytes, now);
    return Math.ceil(Math.max(forMessages, forBytes));
  }

  /** What the gate has counted so far; a debt being waited off stays in the levels (the wait is not kept). */
  snapshot(): RateGateSnapshot {
    return {
      messages: this.messages?.snapshot() ?? null,
      bytes: this.bytes?.snapshot() ?? null,
      seenMessages: this.seenMessages,
    };
  }

  /** Takes up a gate captured by `snapshot()` with the same limits. */
  restore(snapshot: RateGateSnapshot): void {
    if (snapshot.messages !== null) this.messages?.restore(snapshot.messages);
    if (snapshot.bytes !== null) this.bytes?.restore(snapshot.bytes);
    this.seenMessages = snapshot.seenMessages;
  }

  /** Holds the side for `ms`, then calls `resume` (unless stopped first). */
  hold(ms: number, resume: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      resume();
    }, ms);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
