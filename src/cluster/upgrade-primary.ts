// `wsgate upgrade` (and SIGUSR2) of `wsgate run --workers N`, the old primary's side: start a successor primary from
// the same command, give it one raw listening handle per HTTPServer (asked of one worker: under SCHED_NONE each holds
// the shared socket) and the admin API's socket; once the successor's workers all run the config, every old worker
// stops accepting and hands its sessions over (relayed by handover-relay*.ts); the figures are summed here into one
// outcome and one log line; what stayed drains in the old workers, then they and this primary exit. Any failure
// before the sessions move leaves the old cluster as it was, accepting. The successor's side is upgrade-successor.ts
// and the CLI's takeOver, as for one process.
import type { Worker } from "node:cluster";
import type { Logger } from "../observability/logger.js";
import { UpgradeGate } from "../control/upgrade-gate.js";
import { ownCommand, SuccessorProcess, type SuccessorCommand } from "../control/upgrade-child.js";
import type { ListenerMessage, UpgradeOutcome } from "../control/upgrade-protocol.js";
import type { UpgradingAdmin } from "../control/upgrade.js";
import { emptyHandOverReport, type HandOverReport } from "../proxy/handover-types.js";
import { counterSnapshotOf, mergeCounterSnapshots, type CounterSnapshot } from "../observability/carried-counters.js";
import type { ClusterListenerMessage, PrimaryMessage, SharedListenerFd, WorkerMessage } from "./protocol.js";
import { relayFromOldPrimary } from "./handover-relay-primary.js";

export interface ClusterUpgraderOptions {
  /** The workers serving now (the supervisor's live ones). */
  workers: () => Worker[];
  log: Logger;
  admin?: { server: UpgradingAdmin; host: string; port: number } | undefined;
  settleMs?: number;
  /** How long kept sessions get in the old workers before they are closed with 1001 (`--upgrade-drain-timeout`). */
  drainMs: number;
  startTimeoutMs?: number;
  command?: SuccessorCommand;
  /** This primary's own counter totals (reloads...), carried on with its workers' (GatewayMetrics.counterSnapshot). */
  ownCounters?: () => Promise<CounterSnapshot>;
  /** Called once the new primary serves: this one stops what would change listeners (file reloads). */
  handedOver?: () => void;
  /** A failed upgrade: the listening sockets kept here, which every worker listens on from now on (`{ fd }`). */
  shareListeners: (fds: SharedListenerFd[]) => void;
  /** Once handed over: waits for the old workers to drain and exit (no replacing them), then exits this process. */
  retire: (drainMs: number) => Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 60_000;
const SETTLE_MS = 2_000;
/** How long a worker gets to send its listening handles: it sends them at once. */
const HANDLES_TIMEOUT_MS = 10_000;
/** How long the workers get to hand their sessions over, once they are asked. */
const HAND_OVER_TIMEOUT_MS = 120_000;
/** How long the lanes get to pass their last `done` on once every old worker reported. */
const LANES_IDLE_MS = 2_000;

/** A raw listening handle as Node delivers a 'net.Native': its fd, closable, never accepting here. */
interface RawHandle {
  readonly fd: number;
  close(callback?: () => void): void;
}

/** The listening sockets taken from a worker for the successor, kept here until the upgrade is over. */
type HeldListeners = Array<{ message: ClusterListenerMessage; handle: RawHandle }>;

export class ClusterUpgrader {
  private nextReqId = 1;
  private readonly gate: UpgradeGate;

  constructor(private readonly options: ClusterUpgraderOptions) {
    this.gate = new UpgradeGate(options.log);
  }

  async upgrade(): Promise<UpgradeOutcome> {
    const outcome = await this.gate.run(
      (started) => this.handOver(started),
      (done) => ({
        fields: { workers: this.options.workers().length },
        message:
          `upgraded: PID ${done.newPid} and its workers serve now; ${done.moved} sessions moved, ` +
          `${done.kept} kept by the old workers until they end, ${done.closed} closed`,
      }),
    );
    setImmediate(() => void this.retire());
    return outcome;
  }

  private async handOver(started: number): Promise<UpgradeOutcome> {
    const startTimeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const workers = this.options.workers();
    if (workers.length === 0) throw new Error("no worker is serving: nothing to upgrade");
    const successor = new SuccessorProcess(this.options.command ?? ownCommand());
    const held: HeldListeners = [];
    try {
      await successor.next("hello", startTimeoutMs, "load the config");
      await this.sendListeners(successor, workers, held);
      await successor.next("running", startTimeoutMs, "run the config");
    } catch (error) {
      successor.kill();
      closeAll(held);
      throw error;
    }
    // Each old worker hands over on its lane; this primary forwards the lanes to the successor, unread.
    const hub = relayFromOldPrimary({
      workers: workers.map((worker) => worker.process),
      successor: successor.child,
      log: this.options.log,
    });
    const handedOver = await Promise.all(workers.map((worker) => this.handOverWorker(worker)));
    const reports = handedOver.map(({ report }) => report);
    const died = successor.endedWhy;
    if (died !== undefined) {
      hub.close();
      successor.kill();
      // The old workers listen again on the sockets kept here: bound all along, so nothing is refused meanwhile
      // (the successor's workers may still hold them a moment). Kept for as long as this primary runs.
      const shared = held.map(({ message, handle }) => sharedFd(message, handle));
      this.options.shareListeners(shared);
      const errors = await Promise.all(workers.map((worker) => this.acceptAgain(worker, shared)));
      const sum = sumReports(reports);
      const notListening = errors.filter((error) => error !== undefined);
      throw new Error(
        `${died} during the hand-over of the sessions: ${sum.kept + sum.failed} go on in the old workers` +
          (sum.moved === 0 ? "" : `, ${sum.moved} it had taken ended with it`) +
          (notListening.length === 0
            ? ""
            : `; ${notListening.length} workers could not listen again: ${notListening[0]}`),
      );
    }
    const sum = sumReports(reports);
    if (sum.failedReason !== undefined) {
      this.options.log.warn(
        { event: "upgrade_sessions_failed", failed: sum.failed, reason: sum.failedReason },
        `upgrade: ${sum.failed} sessions could not be handed over and go on in the old workers: ${sum.failedReason}`,
      );
    }
    // A worker's report can come ahead of its lane's `done`: let the lanes finish rather than cut them.
    await hub.idle(LANES_IDLE_MS);
    hub.close();
    closeAll(held);
    // Closed: sent, and closed by a new worker whose config has no such WebSocketProxy any more (1001).
    const closed = sum.closed;
    const kept = sum.kept + sum.failed;
    const moved = sum.moved;
    // The whole cluster's totals, as this primary's /metrics sums them: the new primary serves its own on top.
    const own = await this.options.ownCounters?.().catch(() => undefined);
    const counters = mergeCounterSnapshots([
      ...(own === undefined ? [] : [own]),
      ...handedOver.map((answer) => answer.counters ?? []),
    ]);
    await successor.send({ wsgateUpgrade: "done", moved, kept, closed, counters }).catch(() => undefined);
    successor.release();
    this.options.handedOver?.();
    this.options.admin?.server.stopAccepting();
    return {
      oldPid: process.pid,
      newPid: successor.pid,
      moved,
      kept,
      closed,
      keptBy: { ...sum.keptBy, handOverFailed: sum.failed },
      handOverMs: Math.max(0, ...reports.map((report) => report.tookMs)),
      tookMs: Math.round(performance.now() - started),
    };
  }

  /**
   * One raw handle per HTTPServer, asked of the first worker that has them all (every worker holds every shared
   * socket), then the admin API's socket, then how many. The handles received here are closed once sent: the
   * successor holds its own copy, and this primary's cluster keeps the socket its old workers share.
   */
  private async sendListeners(
    successor: SuccessorProcess,
    workers: readonly Worker[],
    held: HeldListeners,
  ): Promise<void> {
    const asked = await Promise.all(workers.map((worker, index) => this.listenerHandles(worker, index === 0)));
    let count = 0;
    for (const answer of asked) held.push(...answer.handles);
    for (const { message, handle } of held) {
      await successor.send(message, handle as never);
      count++;
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
      await successor.send(message, admin.server.listeningSocket);
      count++;
    }
    // The new workers give ids above every old worker's: the sessions they take keep theirs.
    const firstSessionId = Math.max(1, ...asked.map((answer) => answer.firstSessionId));
    await successor.send({ wsgateUpgrade: "listeners-sent", count, firstSessionId });
  }

  /** The worker's first session id for a successor, and with `handles` its listening handles. */
  private listenerHandles(
    worker: Worker,
    handles: boolean,
  ): Promise<{ handles: HeldListeners; firstSessionId: number }> {
    const reqId = this.nextReqId++;
    const got: HeldListeners = [];
    return this.ask(
      worker,
      { type: "listenerHandles", reqId, handles },
      HANDLES_TIMEOUT_MS,
      "send its listening sockets",
      (reply, handle) => {
        if (reply.type === "listenerHandle" && reply.reqId === reqId && isRawHandle(handle)) {
          got.push({ message: reply.listener, handle });
          return undefined;
        }
        if (reply.type === "listenerHandlesSent" && reply.reqId === reqId) {
          return { done: { handles: got, firstSessionId: reply.firstSessionId } };
        }
        return undefined;
      },
    ).catch((error: unknown) => {
      for (const { handle } of got) handle.close();
      throw error;
    });
  }

  /** The worker's report, and its counters once its sessions are handed over (none when it did not answer). */
  private handOverWorker(worker: Worker): Promise<{ report: HandOverReport; counters?: CounterSnapshot }> {
    const reqId = this.nextReqId++;
    const settleMs = this.options.settleMs ?? SETTLE_MS;
    return this.ask(
      worker,
      { type: "upgradeHandOver", reqId, settleMs },
      HAND_OVER_TIMEOUT_MS,
      "hand its sessions over",
      (reply) =>
        reply.type === "handedOver" && reply.reqId === reqId
          ? { done: { report: reply.report, counters: counterSnapshotOf(reply.counters) } }
          : undefined,
    ).catch((error: unknown) => ({ report: emptyHandOverReport((error as Error).message) }));
  }

  private acceptAgain(worker: Worker, sharedListeners: SharedListenerFd[]): Promise<string | undefined> {
    const reqId = this.nextReqId++;
    return this.ask(
      worker,
      { type: "upgradeAcceptAgain", reqId, sharedListeners },
      HANDLES_TIMEOUT_MS,
      "listen again",
      (reply) => (reply.type === "acceptingAgain" && reply.reqId === reqId ? { done: reply.error } : undefined),
    ).catch((error: unknown) => (error as Error).message);
  }

  /** Sends `request` to `worker` and resolves with what `answer` makes of its replies; rejects when it exits first. */
  private ask<T>(
    worker: Worker,
    request: PrimaryMessage,
    timeoutMs: number,
    what: string,
    answer: (reply: WorkerMessage, handle: unknown) => { done: T } | undefined,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("exit", onExit);
      };
      const onMessage = (message: WorkerMessage, handle: unknown): void => {
        const result = answer(message, handle);
        if (result === undefined) return;
        finish();
        resolve(result.done);
      };
      const onExit = (): void => {
        finish();
        reject(new Error(`worker ${worker.id} (PID ${worker.process.pid}) exited before it would ${what}`));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`worker ${worker.id} (PID ${worker.process.pid}) did not ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      worker.on("message", onMessage);
      worker.once("exit", onExit);
      worker.send(request, (error) => {
        if (error === null) return;
        finish();
        reject(new Error(`cannot ask worker ${worker.id} to ${what}: ${error.message}`));
      });
    });
  }

  /** The old workers serve what stayed until it ends or the drain timeout, then exit; then this primary. */
  private async retire(): Promise<void> {
    const { drainMs, log } = this.options;
    for (const worker of this.options.workers()) {
      worker.send({ type: "upgradeDrain", drainMs } satisfies PrimaryMessage, () => undefined);
    }
    await this.options
      .retire(drainMs)
      .catch((error: unknown) => log.error({ err: error }, "stop after upgrade failed"));
  }
}

function isRawHandle(handle: unknown): handle is RawHandle {
  return (
    typeof handle === "object" &&
    handle !== null &&
    typeof (handle as RawHandle).close === "function" &&
    typeof (handle as RawHandle).fd === "number"
  );
}

function closeAll(held: HeldListeners): void {
  for (const { handle } of held.splice(0)) handle.close();
}

function sharedFd(message: ClusterListenerMessage, handle: RawHandle): SharedListenerFd {
  const { server, address, port, boundPort, boundAddress, family } = message;
  return { server, address, port, boundPort, boundAddress, family, fd: handle.fd };
}

function sumReports(reports: readonly HandOverReport[]): HandOverReport {
  const sum = emptyHandOverReport();
  for (const report of reports) {
    sum.moved += report.moved;
    sum.kept += report.kept;
    sum.failed += report.failed;
    sum.closed += report.closed;
    sum.keptBy.tls += report.keptBy.tls;
    sum.keptBy.wssBackend += report.keptBy.wssBackend;
    sum.keptBy.unsettled += report.keptBy.unsettled;
    sum.keptBy.notMovable += report.keptBy.notMovable;
    sum.tookMs = Math.max(sum.tookMs, report.tookMs);
    sum.failedReason ??= report.failedReason;
  }
  return sum;
}
