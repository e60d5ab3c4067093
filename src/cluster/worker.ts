import { listenerView } from "../control/listener-view.js";
import cluster from "node:cluster";
import type { Server as NetServer } from "node:net";
import type { ListenerView, StatusView } from "../control/control.js";
import { formatConfigError, validateObjects } from "../config/load.js";
import {
  Gateway,
  createGatewayTelemetry,
  type ApplySummary,
  type GatewayOptions,
  type GatewayTelemetry,
} from "../gateway.js";
import type { Logger } from "../observability/logger.js";
import {
  isPrimaryMessage,
  type Answer,
  type ApplyMessage,
  type PrimaryMessage,
  type UpgradeRequest,
  type WorkerMessage,
  type WorkerRequest,
} from "./protocol.js";
import { SharedListeners, WorkerUpgrade } from "./worker-upgrade.js";
import { WorkerRelay } from "./handover-relay-worker.js";
import { readChartTotals, summarizeSessions } from "../control/dashboard-reads.js";
import { gatewaySessionId, sessionView } from "../control/session-view.js";
import { collectStartGarbage } from "../process-tuning.js";

export interface WorkerOptions {
  log: Logger;
  /** Used when the worker stops on its own (a signal, or the primary is gone); a `stop` message names its own. */
  drainMs: number;
  /** `wsgate run --bind-address` (passed on by the primary) and the worker's telemetry. */
  gateway?: GatewayOptions;
}

/** Where a worker's objects come from in errors: they arrive over IPC, not from a file. */
const OBJECTS_LABEL = "objects";

/** Beyond the drain, how long a stopping worker waits for its listeners to close before it exits anyway. */
const EXIT_MARGIN_MS = 1000;

/** One worker process: runs the gateway on the objects the primary sends, answers its questions, drains on stop. */
class GatewayWorker {
  private gateway: Gateway | undefined;
  private lastApplyError: string | undefined;
  /** The objects running now, as JSON: the same set again (the undo of a refused change) is not a new apply. */
  private appliedJson: string | undefined;
  /** Applies run one at a time, in the order they came. */
  private applying: Promise<void> = Promise.resolve();
  private stopping = false;
  /** The gateway's metrics and pool status, there before the gateway (the primary may ask before the first apply). */
  private readonly telemetry: GatewayTelemetry;
  private readonly gatewayOptions: GatewayOptions;
  /** Sockets the primary holds for its workers after `wsgate upgrade`: listened on as `{ fd }`. */
  private readonly shared = new SharedListeners();
  private readonly upgrade: WorkerUpgrade;
  /** The session relay of `wsgate upgrade`: lanes out of an old worker, into a new one (handover-relay*.ts). */
  private readonly relay = new WorkerRelay();

  constructor(
    private readonly id: number,
    private readonly log: Logger,
    private readonly drainMs: number,
    gatewayOptions: GatewayOptions = {},
  ) {
    this.telemetry = gatewayOptions.telemetry ?? createGatewayTelemetry();
    this.gatewayOptions = { ...gatewayOptions, telemetry: this.telemetry, inherited: this.shared };
    this.upgrade = new WorkerUpgrade(
      {
        gateway: () => this.gateway,
        shared: this.shared,
        log,
        send: (message, handle) => this.sendWith(message, handle),
        stop: (drain, why) => this.stop(drain, why),
      },
      // One lane per old worker, from 0: old worker k goes to new worker k (with as many), its ids shown the same.
      { open: () => this.relay.handoverChannel(id - 1) },
    );
  }

  start(): void {
    process.on("message", (message: unknown) => {
      if (!isPrimaryMessage(message)) return;
      if (message.type === "apply") this.applying = this.applying.then(() => this.apply(message));
      else if (message.type === "stop") this.stop(message.drainMs, "primary");
      else if (isUpgradeRequest(message)) this.upgrade.handle(message);
      else void this.answer(message).then((answer) => this.send({ type: "reply", reqId: message.reqId, answer }));
    });
    // The primary coordinates shutdown, but a signal sent to the whole process group (Ctrl+C, systemd) or a primary
    // that died must still drain this worker's sessions rather than cut them.
    process.on("SIGTERM", () => this.stop(this.drainMs, "SIGTERM"));
    process.on("SIGINT", () => this.stop(this.drainMs, "SIGINT"));
    process.on("disconnect", () => this.stop(this.drainMs, "primary gone"));
    // Reloads come from the primary as `apply`; a SIGHUP sent to the process group must not kill the worker.
    process.on("SIGHUP", () => this.log.debug("SIGHUP ignored: the primary reloads"));
    this.send({ type: "ready" });
  }

  /** A message that must arrive (with a handle, when given) before the next step: resolves once it is sent. */
  private sendWith(message: WorkerMessage, handle?: object): Promise<void> {
    return new Promise((resolve) => {
      if (!process.connected || process.send === undefined) {
        resolve();
        return;
      }
      // The raw handle is sent as Node's 'net.Native': the primary holds it without accepting on it.
      process.send(message, handle as NetServer | undefined, {}, () => resolve());
    });
  }

  private send(message: WorkerMessage): void {
    // A closed channel means the primary is gone; the disconnect handler drains.
    if (process.connected) process.send?.(message, undefined, {}, () => undefined);
  }

  private async apply(message: ApplyMessage): Promise<void> {
    if (this.stopping) return;
    this.shared.update(message.sharedListeners);
    const json = JSON.stringify(message.objects);
    if (this.gateway !== undefined && json === this.appliedJson) {
      // Nothing changes, so the last failure (if any) is still the last failure.
      this.send({ type: "applied", seq: message.seq, listeners: this.listeners() });
      return;
    }
    let error: string | undefined;
    let summary: ApplySummary | undefined;
    // The primary runs the admin listener and has kept these objects clear of it; a worker does not know where it is.
    const result = validateObjects(message.objects, OBJECTS_LABEL, { adminListeners: [] });
    if (!result.ok) {
      error = result.errors.map(formatConfigError).join("\n");
    } else {
      try {
        if (this.gateway === undefined) {
          const first = message.firstSessionId;
          this.gateway = await Gateway.start(result.config, this.log, {
            ...this.gatewayOptions,
            ...(first === undefined ? {} : { firstSessionId: first }),
          });
          this.takeMovedSessions(this.gateway);
          collectStartGarbage();
        } else summary = await this.gateway.apply(result.config);
      } catch (cause) {
        error = (cause as Error).message;
      }
    }
    this.lastApplyError = error;
    if (error === undefined) this.appliedJson = json;
    if (error !== undefined) this.log.error({ seq: message.seq, error }, "cannot apply the objects");
    else this.log.debug({ seq: message.seq, listeners: this.listeners() }, "objects applied");
    this.send({
      type: "applied",
      seq: message.seq,
      listeners: this.listeners(),
      ...(error === undefined ? {} : { error }),
      ...(summary === undefined ? {} : { summary }),
    });
  }

  /** A new worker after `wsgate upgrade`: each lane of sessions its primary relays to it is taken up here. */
  private takeMovedSessions(gateway: Gateway): void {
    this.relay.acceptSessions((channel, lane) => {
      const taking = gateway.takeSessions(channel);
      void taking.done.then((report) => {
        taking.stop();
        this.log.info({ event: "upgrade_took_lane", lane, ...report }, "upgrade: took sessions handed over");
      });
    });
  }

  private listeners(): ListenerView[] {
    return (this.gateway?.listening ?? []).map(listenerView);
  }

  private async answer(request: WorkerRequest): Promise<Answer> {
    const sessions = this.gateway?.sessions.list() ?? [];
    switch (request.type) {
      case "sessions": {
        const now = Date.now();
        return { kind: "sessions", sessions: sessions.map((session) => sessionView(session, now, this.id)) };
      }
      case "closeSession": {
        const session = sessions.find((live) => gatewaySessionId(live.id, this.id) === request.id);
        session?.close(request.code, request.reason);
        return { kind: "closeSession", closed: session !== undefined };
      }
      case "drainServer":
        return {
          kind: "drainServer",
          drained: this.telemetry.upstreamStatus.drain(request.server, request.overMs, request.pool),
        };
      case "status": {
        const status: StatusView = {
          listeners: this.listeners(),
          pools: this.telemetry.upstreamStatus.pools(),
          sessions: sessions.length,
          ...(this.lastApplyError === undefined ? {} : { lastApplyError: this.lastApplyError }),
        };
        return { kind: "status", status };
      }
      case "metrics":
        return { kind: "metrics", metrics: await this.telemetry.metrics.registry.getMetricsAsJSON() };
      case "sessionSummary": {
        const live = this.gateway?.sessions.values() ?? [];
        return { kind: "sessionSummary", summary: summarizeSessions(live, request.rows, Date.now(), this.id) };
      }
      case "chartTotals": {
        const metrics = this.telemetry.metrics;
        const totals = await readChartTotals(metrics.registry, metrics.relayedTotals(), request.counters);
        return { kind: "chartTotals", totals };
      }
    }
  }

  private stop(drainMs: number, why: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ why, sessions: this.gateway?.sessions.size ?? 0 }, "worker stopping: closing sessions with 1001");
    // Exit even if closing the listeners hangs (its primary may be gone).
    setTimeout(() => process.exit(0), drainMs + EXIT_MARGIN_MS).unref();
    void this.applying
      .then(() => this.gateway?.stop(drainMs))
      .catch((error: unknown) => this.log.error({ error: (error as Error).message }, "worker stop failed"))
      .finally(() => process.exit(0));
  }
}

const UPGRADE_REQUESTS: ReadonlySet<string> = new Set([
  "listenerHandles",
  "upgradeHandOver",
  "upgradeAcceptAgain",
  "upgradeDrain",
]);

function isUpgradeRequest(message: PrimaryMessage): message is UpgradeRequest {
  return UPGRADE_REQUESTS.has(message.type);
}

/** The worker's side of the cluster; call it in a process that node:cluster forked (see worker-main.ts). */
export function runWorker(options: WorkerOptions): void {
  const id = cluster.worker?.id;
  if (id === undefined) throw new Error("runWorker() must run in a node:cluster worker");
  // A send that fails because the primary died surfaces here; the disconnect handler drains.
  cluster.worker?.on("error", (error: Error) => options.log.debug({ error: error.message }, "channel error"));
  new GatewayWorker(id, options.log, options.drainMs, options.gateway).start();
}
