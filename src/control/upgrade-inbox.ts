// The steps of `wsgate upgrade` as one side receives them (upgrade-protocol.ts): `next(step)` waits for the next
// message of a step, and a message that comes before anyone waits for it is kept until someone does. Both sides of
// an upgrade (upgrade-child.ts, upgrade-successor.ts) read their channel through one.
import type { UpgradeMessage } from "./upgrade-protocol.js";

export type Step = UpgradeMessage["wsgateUpgrade"];

/** Why a wait ended without its message: its time ran out, or the other side is gone (and why). */
export type NoMessage = { kind: "timeout" } | { kind: "gone"; why: string };

interface Waiter {
  resolve: (message: UpgradeMessage) => void;
  fail: (why: string) => void;
}

export class StepInbox {
  /** Steps that came before anyone waited for them. */
  private readonly early = new Map<Step, UpgradeMessage>();
  private readonly waiters = new Map<Step, Waiter>();
  /** Why nothing more will come, once the channel is gone. */
  private closedWhy: string | undefined;

  /**
   * The next message of `step` (one kept from before, first); rejects after `timeoutMs`, or when the inbox fails or
   * is closed, with the text `explain` gives.
   */
  next(step: Step, timeoutMs: number, explain: (end: NoMessage) => string): Promise<UpgradeMessage> {
    return new Promise((resolve, reject) => {
      const early = this.early.get(step);
      if (early !== undefined) {
        this.early.delete(step);
        resolve(early);
        return;
      }
      if (this.closedWhy !== undefined) {
        reject(new Error(explain({ kind: "gone", why: this.closedWhy })));
        return;
      }
      const timer = setTimeout(() => {
        this.waiters.delete(step);
        reject(new Error(explain({ kind: "timeout" })));
      }, timeoutMs);
      this.waiters.set(step, {
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message);
        },
        fail: (why) => {
          clearTimeout(timer);
          reject(new Error(explain({ kind: "gone", why })));
        },
      });
    });
  }

  /** A message received: to whoever waits for its step, else kept for the next who does. */
  deliver(message: UpgradeMessage): void {
    const waiter = this.waiters.get(message.wsgateUpgrade);
    this.waiters.delete(message.wsgateUpgrade);
    if (waiter === undefined) this.early.set(message.wsgateUpgrade, message);
    else waiter.resolve(message);
  }

  /** Every wait under way fails with `why`; later ones still wait. */
  failWaiting(why: string): void {
    const waiting = [...this.waiters.values()];
    this.waiters.clear();
    for (const waiter of waiting) waiter.fail(why);
  }

  /** The channel is gone: every wait under way and to come fails with `why`. */
  close(why: string): void {
    this.closedWhy = why;
    this.failWaiting(why);
  }
}
