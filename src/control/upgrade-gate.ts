// The state every upgrader keeps (one process: upgrade.ts; a cluster's primary: cluster/upgrade-primary.ts): one
// upgrade at a time, none once this process handed over, and one log line per upgrade saying how it went.
import type { Logger } from "../observability/logger.js";
import { UpgradeBusyError, UpgradeFailedError } from "./errors.js";
import type { UpgradeOutcome } from "./upgrade-protocol.js";

/** What the `upgrade` log line adds to the outcome's figures, and its message. */
export interface UpgradedLine {
  fields?: Record<string, unknown>;
  message: string;
}

export class UpgradeGate {
  private state: "serving" | "upgrading" | "handed-over" = "serving";
  private successorPid = 0;

  constructor(private readonly log: Logger) {}

  /**
   * Runs `handOver` (given when it started) unless an upgrade runs or this process already handed over; logs
   * `upgrade` with the figures, or `upgrade_failed` with why, and rethrows the failure as UpgradeFailedError. A
   * failed upgrade leaves this process serving, free to try again.
   */
  async run(
    handOver: (started: number) => Promise<UpgradeOutcome>,
    line: (outcome: UpgradeOutcome) => UpgradedLine,
  ): Promise<UpgradeOutcome> {
    if (this.state === "upgrading") throw new UpgradeBusyError("an upgrade is already under way");
    if (this.state === "handed-over") {
      throw new UpgradeBusyError(`this process already handed over to PID ${this.successorPid}; ask that one`);
    }
    this.state = "upgrading";
    const started = performance.now();
    try {
      const outcome = await handOver(started);
      this.state = "handed-over";
      this.successorPid = outcome.newPid;
      const { fields, message } = line(outcome);
      this.log.info({ event: "upgrade", pid: process.pid, ...fields, ...outcome }, message);
      return outcome;
    } catch (error) {
      this.state = "serving";
      const reason = (error as Error).message;
      this.log.error(
        { event: "upgrade_failed", pid: process.pid, reason, tookMs: Math.round(performance.now() - started) },
        reason,
      );
      throw new UpgradeFailedError(reason);
    }
  }
}
