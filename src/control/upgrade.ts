// `wsgate upgrade` (and SIGUSR2), the running process's side: start a successor from the code and config on disk,
// hand it the listening sockets first (both accept for a moment: no connection is refused), wait until it runs the
// config, stop accepting here, hand it the live sessions, and drain what could not move before exiting. Any failure
// before the sessions are handed over leaves this process as it was (accepting again if it had stopped); it answers
// why. The successor's side is upgrade-successor.ts.
import type { AddressInfo, Server as NetServer } from "node:net";
import type { Gateway } from "../gateway.js";
import type { Logger } from "../observability/logger.js";
import { UpgradeGate } from "./upgrade-gate.js";
import { ownCommand, SuccessorProcess, type SuccessorCommand } from "./upgrade-child.js";
import type { ListenerMessage, UpgradeOutcome } from "./upgrade-protocol.js";

/** The admin API's listener, as an upgrade moves it. */
export interface UpgradingAdmin {
  readonly address: AddressInfo | undefined;
  readonly listeningSocket: NetServer;
  stopAccepting(): void;
}

export interface UpgraderOptions {
  gateway: Gateway;
  log: Logger;
  /** The admin API, whose socket moves too; its configured host and port. */
  admin?: { server: UpgradingAdmin; host: string; port: number } | undefined;
  /** How long sessions get to reach a frame boundary before they are handed over (else they stay here). */
  settleMs?: number;
  /** How long kept sessions get to end on their own before they are closed with 1001 (`--upgrade-drain-timeout`). */
  drainMs: number;
  /** How long the successor gets to start and run the config. */
  startTimeoutMs?: number;
  /** Default: this process's node, entry script and arguments. */
  command?: SuccessorCommand;
  /** Called once the new process serves: this one stops what would change listeners (file reloads). */
  handedOver?: () => void;
  /**
   * Called once the sessions are handed over, after the kept ones ended or the drain timeout passed: stops the
   * rest (closing what is left with 1001) and exits.
   */
  exit: () => Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 60_000;
const SETTLE_MS = 2_000;
/** How long the new process gets to say what it did with the sessions, once they are all sent. */
const TOOK_TIMEOUT_MS = 30_000;

export class Upgrader {
  private readonly gate: UpgradeGate;

  constructor(private readonly options: UpgraderOptions) {
    this.gate = new UpgradeGate(options.log);
  }

  /** Upgrades this process; resolves with the figures once the new one serves, or throws why it does not. */
  async upgrade(): Promise<UpgradeOutcome> {
    const outcome = await this.gate.run(
      (started) => this.handOver(started),
      (done) => ({
        message:
          `upgraded: PID ${done.newPid} serves now; ${done.moved} sessions moved, ${done.kept} kept here ` +
          `until they end, ${done.closed} closed`,
      }),
    );
    setImmediate(() => void this.drainKept(outcome.kept));
    return outcome;
  }

  private async handOver(started: number): Promise<UpgradeOutcome> {
    const { gateway, admin } = this.options;
    const startTimeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const successor = new SuccessorProcess(this.options.command ?? ownCommand());
    try {
      // The successor loads the config first, so that one that cannot never holds a socket.
      await successor.next("hello", startTimeoutMs, "load the config");
      await this.sendListeners(successor);
      await successor.next("running", startTimeoutMs, "run the config");
    } catch (error) {
      successor.kill();
      throw error;
    }
    await gateway.stopAccepting();
    const report = await gateway.handOverSessions(successor.handoverChannel(), {
      settleMs: this.options.settleMs ?? SETTLE_MS,
    });
    // The new process died meanwhile: this one takes accepting back; the sessions not acknowledged resumed here.
    const died = successor.endedWhy;
    if (died !== undefined) {
      await gateway.acceptAgain();
      successor.kill();
      throw new Error(
        `${died} during the hand-over of the sessions: ${report.kept + report.failed} go on here` +
          (report.moved === 0 ? "" : `, ${report.moved} it had taken ended with it`),
      );
    }
    if (report.failedReason !== undefined) {
      this.options.log.warn(
        { event: "upgrade_sessions_failed", failed: report.failed, reason: report.failedReason },
        `upgrade: ${report.failed} sessions could not be handed over and go on here: ${report.failedReason}`,
      );
    }
    // What the new process did with them: closed, when its config no longer has their filter.
    const took = await successor.next("took", TOOK_TIMEOUT_MS, "say which sessions it took").catch(() => undefined);
    const closed = took?.wsgateUpgrade === "took" ? took.closed : 0;
    const kept = report.kept + report.failed;
    const moved = report.moved - closed;
    // Taken once the sessions are handed over: the moved ones' counts go with their relays, the kept ones' stay in.
    const counters = await gateway.telemetry.metrics.counterSnapshot().catch(() => undefined);
    await successor
      .send({ wsgateUpgrade: "done", moved, kept, closed, ...(counters === undefined ? {} : { counters }) })
      .catch(() => undefined);
    successor.release();
    this.options.handedOver?.();
    // After the answer to `wsgate upgrade` is under way on its own connection, nothing new reaches this one.
    admin?.server.stopAccepting();
    return {
      oldPid: process.pid,
      newPid: successor.pid,
      moved,
      kept,
      closed,
      keptBy: { ...report.keptBy, handOverFailed: report.failed },
      handOverMs: report.tookMs,
      tookMs: Math.round(performance.now() - started),
    };
  }

  /** Every listening socket, one per message (Node's channel takes one handle at a time), then how many. */
  private async sendListeners(successor: SuccessorProcess): Promise<void> {
    const sockets: Array<{ message: ListenerMessage; socket: NetServer }> = [];
    for (const { spec, address, socket } of this.options.gateway.listeningSockets()) {
      const message: ListenerMessage = {
        wsgateUpgrade: "listener",
        role: "server",
        server: spec.name,
        address: spec.address,
        port: spec.port,
        boundPort: address.port,
      };
      sockets.push({ message, socket });
    }
    const admin = this.options.admin;
    const adminAddress = admin?.server.address;
    if (admin !== undefined && adminAddress !== undefined) {
      const message: ListenerMessage = {
        wsgateUpgrade: "listener",
        role: "admin",
        server: "",
        address: admin.host,
        port: admin.port,
        boundPort: adminAddress.port,
      };
      sockets.push({ message, socket: admin.server.listeningSocket });
    }
    for (const { message, socket } of sockets) await successor.send(message, socket);
    await successor.send({
      wsgateUpgrade: "listeners-sent",
      count: sockets.length,
      // Above every id given here, with room for the sessions this process starts until it stops accepting.
      firstSessionId: this.options.gateway.sessionIdsForSuccessor(),
    });
  }

  /** What stayed here serves on until it ends, or the drain timeout closes it with 1001; then the process exits. */
  private async drainKept(kept: number): Promise<void> {
    const { gateway, log, drainMs } = this.options;
    const started = performance.now();
    const ended = await nothingOpen(gateway, drainMs);
    const left = gateway.sessions.size;
    log.info(
      {
        event: "upgrade_drained",
        pid: process.pid,
        kept,
        endedOnTheirOwn: kept - left,
        closed: ended ? 0 : left,
        drainMs,
      },
      ended ? "the sessions kept here have ended: exiting" : `drain timeout: closing ${left} kept sessions with 1001`,
    );
    log.debug({ tookMs: Math.round(performance.now() - started) }, "upgrade drain over");
    await this.options.exit().catch((error: unknown) => log.error({ err: error }, "stop after upgrade failed"));
  }
}

/** How often the drain looks whether what stayed here has ended. */
const DRAIN_POLL_MS = 100;

/**
 * Resolves true once no session and no connection is left here (a handshake under way when accepting stopped becomes a
 * session here, and must not be cut), false after `timeoutMs`.
 */
async function nothingOpen(gateway: Gateway, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(gateway.listeningSockets().map(({ socket }) => connectionsOf(socket)));
    if (gateway.sessions.size === 0 && counts.every((count) => count === 0)) return true;
    const left = until - performance.now();
    if (left <= 0) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(DRAIN_POLL_MS, left)));
  }
}

function connectionsOf(socket: NetServer): Promise<number> {
  return new Promise((resolve) => socket.getConnections((error, count) => resolve(error === null ? count : 0)));
}
