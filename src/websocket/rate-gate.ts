import { TokenBucket, type TokenBucketSnapshot } from "../util/token-bucket.js";

/** What to do with a peer that sends faster than its rate: slow it down (pause reading) or close it with 1008. */
export type RateLimitAction = "pause" | "close";

export interface RateGateLimits {
  /** Data messages per second; 0 for no limit. */
  messageRate: number;
  /** Messages that may go at once, above the rate (the bucket's size); at least 1 where `messageRate` is set. */
  messageBurst: number;
  /** Bytes of data frames (headers included) per second; 0 for no limit. One second's worth may go at once. */
  maxByteRate: number;
  action: RateLimitAction;
}

/** One allowance's level, as plain data. */
export type AllowanceSnapshot = TokenBucketSnapshot;

/** A gate's progress (what each allowance holds), as plain data. */
export interface RateGateSnapshot {
  messages: AllowanceSnapshot | null;
  bytes: AllowanceSnapshot | null;
  /** Kept for snapshots of version 1 (the gate once counted per read); always 0 now. */
  seenMessages: number;
}

/**
 * The message and byte rate of one side of a session, asked before each data frame of that side is relayed
 * (FrameStreamHandler.onDataFrame): a frame that starts a message needs a message token, and any data frame needs
 * the byte allowance out of debt (it may then take the allowance below zero: a frame is never split). When the
 * gate says wait, the relay holds that side's bytes at the frame boundary and stops reading it until the gate's
 * timer fires (or closes it, with `action: close`). Whatever the TCP segmentation, each message is counted on its
 * own: 100 messages in one read pass at the rate, not at once.
 */
export class RateGate {
  private readonly messages: TokenBucket | undefined;
  private readonly bytes: TokenBucket | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (ms since epoch), while it runs. */
  private heldUntil = 0;

  constructor(
    readonly limits: RateGateLimits,
    now = Date.now(),
  ) {
    this.messages =
      limits.messageRate > 0 ? new TokenBucket(limits.messageRate, Math.max(1, limits.messageBurst), now) : undefined;
    this.bytes = limits.maxByteRate > 0 ? new TokenBucket(limits.maxByteRate, limits.maxByteRate, now) : undefined;
  }

  /** Any limit set at all. */
  static wanted(limits: RateGateLimits): boolean {
    return limits.messageRate > 0 || limits.maxByteRate > 0;
  }

  /** Reading this side waits for the gate's timer. */
  get held(): boolean {
    return this.timer !== undefined;
  }

  /**
   * A data frame of `frameBytes` (header and payload) is about to be relayed; `messageStart` when it is the first
   * frame of a message. Returns 0 when it may go (its tokens are taken), else how long (ms) until it may (nothing
   * is taken: the frame is asked about again then).
   */
  admitFrame(messageStart: boolean, frameBytes: number, now = Date.now()): number {
    const messages = messageStart ? this.messages : undefined;
    const forMessage = messages === undefined ? 0 : messages.waitFor(1, now);
    const forBytes = this.bytes === undefined ? 0 : this.bytes.waitFor(0, now);
    const wait = Math.max(forMessage, forBytes);
    if (wait > 0) return Math.ceil(wait);
    messages?.take(1);
    this.bytes?.take(frameBytes);
    return 0;
  }

  /** What the gate has counted so far; the wait being held is not kept (the levels say when it would end). */
  snapshot(): RateGateSnapshot {
    return {
      messages: this.messages?.snapshot() ?? null,
      bytes: this.bytes?.snapshot() ?? null,
      seenMessages: 0,
    };
  }

  /** Takes up a gate captured by `snapshot()` with the same limits. */
  restore(snapshot: RateGateSnapshot): void {
    if (snapshot.messages !== null) this.messages?.restore(snapshot.messages);
    if (snapshot.bytes !== null) this.bytes?.restore(snapshot.bytes);
  }

  /** Holds the side for at least `ms`, then calls `resume` (unless stopped first); a longer hold running stays. */
  hold(ms: number, resume: () => void, now = Date.now()): void {
    if (this.timer !== undefined && this.heldUntil >= now + ms) return;
    clearTimeout(this.timer);
    this.heldUntil = now + ms;
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
