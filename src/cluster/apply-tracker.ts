import type { ListenerView } from "../control/control.js";
import type { ApplySummary } from "../gateway.js";
import type { AppliedMessage } from "./protocol.js";

/**
 * Which change each worker has applied, so that `settled()` can wait for all of them. Only workers that said `ready`
 * count; one that exits stops counting, so a dead worker never holds a wait.
 */
export class ApplyTracker {
  private readonly acks = new Map<number, AppliedMessage>();
  private waiters: Array<() => boolean> = [];

  /** `live` gives the ids of the workers that are up (ready and not exited). */
  constructor(private readonly live: () => number[]) {}

  acknowledged(worker: number, message: AppliedMessage): void {
    this.acks.set(worker, message);
    this.recheck();
  }

  workerGone(worker: number): void {
    this.acks.delete(worker);
    this.recheck();
  }

  /**
   * Resolves once at least `minWorkers` workers are up and each of them applied change `seq` (or a later one): with
   * the first error among them, if any. After `timeoutMs`, resolves with an error naming the workers still behind.
   */
  until(seq: number, timeoutMs: number, minWorkers = 1): Promise<string | undefined> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        const live = this.live();
        if (live.length < minWorkers || live.some((id) => (this.acks.get(id)?.seq ?? 0) < seq)) return false;
        clearTimeout(timer);
        resolve(this.lastError());
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        const behind = this.live().filter((id) => (this.acks.get(id)?.seq ?? 0) < seq);
        resolve(`worker(s) ${behind.join(", ") || "(none up)"} did not apply change ${seq} within ${timeoutMs} ms`);
      }, timeoutMs);
      if (!check()) this.waiters.push(check);
    });
  }

  /** The error of a live worker's latest change, if any failed. */
  lastError(): string | undefined {
    for (const id of this.live()) {
      const error = this.acks.get(id)?.error;
      if (error !== undefined) return error;
    }
    return undefined;
  }

  /** The summaries of change `seq` from the live workers that applied exactly it. */
  summaries(seq: number): ApplySummary[] {
    return this.live().flatMap((id) => {
      const ack = this.acks.get(id);
      return ack?.seq === seq && ack.summary !== undefined ? [ack.summary] : [];
    });
  }

  /** What the workers listen on (they share the listeners, so any worker that applied tells). */
  listeners(): ListenerView[] {
    for (const id of this.live()) {
      const ack = this.acks.get(id);
      if (ack !== undefined && ack.listeners.length > 0) return ack.listeners;
    }
    return [];
  }

  private recheck(): void {
    this.waiters = this.waiters.filter((settled) => !settled());
  }
}
