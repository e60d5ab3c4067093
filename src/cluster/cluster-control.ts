import type { Worker } from "node:cluster";
import { AggregatorRegistry } from "prom-client";
import type { ConfigObject, GatewayConfig } from "../config/load.js";
import type {
  ChartTotals,
  GatewayControl,
  ListenerView,
  SessionSummary,
  SessionView,
  StatusView,
} from "../control/control.js";
import { mergeChartTotals, mergeSessionSummaries } from "../control/dashboard-reads.js";
import type { ObjectStore } from "../control/object-store.js";
import type { ObjectSources } from "../control/object-sources.js";
import type { ApplySummary } from "../gateway.js";
import type { DrainedServer } from "../upstream/status.js";
import type { Logger } from "../observability/logger.js";
import { GatewayMetrics, NO_POOLS } from "../observability/metrics.js";
import { ApplyTracker } from "./apply-tracker.js";
import { mergeStatus } from "./merge-status.js";
import type { ApplyMessage, SharedListenerFd, WorkerMessage } from "./protocol.js";
import type { WorkerEvents } from "./worker-supervisor.js";
import { WorkerRequests } from "./worker-requests.js";

export interface ClusterControlOptions {
  /** A worker that does not answer a question within this is left out of the answer. */
  requestTimeoutMs?: number;
  /** `settled()` gives up waiting for a worker's acknowledgement after this. */
  applyTimeoutMs?: number;
  /** A gateway run from files: where each object comes from (see ObjectSources). */
  sources?: ObjectSources;
  /**
   * The primary's own metrics (config reloads, build info, its process), served with the workers'. Default: a
   * registry of its own, without process metrics or version.
   */
  metrics?: GatewayMetrics;
  /** Listening sockets taken over by `wsgate upgrade`, which the workers listen on as `{ fd }` (see SharedListeners). */
  sharedListeners?: SharedListenerFd[];
  /** After `wsgate upgrade`: the first session id each worker gives (the sessions it takes keep theirs). */
  firstSessionId?: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 2000;
const DEFAULT_APPLY_TIMEOUT_MS = 10_000;

/**
 * The gateway as the admin API sees it when workers run it: every store change goes to every worker (and to each
 * new one), and every question is asked of all workers and answered for the whole gateway.
 */
export class ClusterControl implements GatewayControl, WorkerEvents {
  /** Counts store changes; workers acknowledge the change they applied by it. */
  private seq = 1;
  private objects: ConfigObject[];
  private readonly requests: WorkerRequests;
  private readonly applies: ApplyTracker;
  private readonly applyTimeoutMs: number;
  /** The set every worker ran last, as JSON: a store change back to it (an undo) is not logged again. */
  private appliedJson: string;
  /** While a file reload runs, its store changes are not logged here: the file reloader logs its outcome. */
  private fileReload = false;
  /** Set by runCluster: what to do when the supervisor gave up on dying workers. */
  onGaveUp: () => void = () => undefined;
  readonly sources: ObjectSources | undefined;
  /** The primary's own metrics, which it adds to the workers'. */
  readonly ownMetrics: GatewayMetrics;
  private sharedListeners: SharedListenerFd[] | undefined;
  private readonly firstSessionId: number | undefined;

  constructor(
    readonly store: ObjectStore,
    private readonly workers: { live(): Worker[]; liveIds(): number[] },
    private readonly log: Logger,
    options: ClusterControlOptions = {},
  ) {
    this.objects = store.list().map((stored) => stored.object);
    this.appliedJson = JSON.stringify(this.objects);
    this.requests = new WorkerRequests(log, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    this.applies = new ApplyTracker(() => workers.liveIds());
    this.applyTimeoutMs = options.applyTimeoutMs ?? DEFAULT_APPLY_TIMEOUT_MS;
    this.sources = options.sources;
    this.sharedListeners = options.sharedListeners;
    this.firstSessionId = options.firstSessionId;
    this.ownMetrics = options.metrics ?? new GatewayMetrics(NO_POOLS, { processMetrics: false });
    store.onChange((objects) => {
      this.objects = objects;
      this.forgetSharedListenersGone(objects);
      this.seq++;
      for (const worker of workers.live()) this.sendApply(worker);
      void this.outcome(this.seq, JSON.stringify(objects), !this.fileReload);
    });
  }

  /**
   * A whole new set from the config files (SIGHUP, `--watch`): into the store, and when the workers cannot run it
   * (a port in use), the store goes back to the set before. Resolves with what the workers changed; throws with why
   * not. Its outcome is for the caller to log, once.
   */
  async replaceFromFiles(config: GatewayConfig): Promise<ApplySummary> {
    const before = this.store.list().map((stored) => stored.object);
    this.fileReload = true;
    try {
      await this.store.replaceAll(config.objects);
      const seq = this.seq;
      const error = await this.settled();
      if (error === undefined) return mergeSummaries(this.applies.summaries(seq));
      await this.store.replaceAll(before);
      await this.settled();
      throw new Error(error);
    } finally {
      this.fileReload = false;
    }
  }

  /** Once every worker answered change `seq`: keeps what runs, and logs one outcome line when `log` says so. */
  private async outcome(seq: number, json: string, log: boolean): Promise<void> {
    const error = await this.applies.until(seq, this.applyTimeoutMs);
    // A later change already went out: its own outcome tells.
    if (seq !== this.seq) return;
    if (error !== undefined) {
      if (!log) return;
      this.log.error({ event: "config_apply_failed", error }, "config could not be applied");
      this.ownMetrics.configReloaded("rejected");
      return;
    }
    const undo = json === this.appliedJson;
    this.appliedJson = json;
    // A file reload counts its own outcome (file-reload.ts).
    if (!log || undo) return;
    this.ownMetrics.configReloaded("applied");
    const summary = mergeSummaries(this.applies.summaries(seq));
    this.log.info({ event: "config_applied", trigger: "store", ...summary }, "config applied");
  }

  // ---- GatewayControl ----

  async sessions(): Promise<SessionView[]> {
    const answers = await this.requests.ask(this.workers.live(), (reqId) => ({ type: "sessions", reqId }));
    return answers.flatMap(({ answer }) => answer.sessions);
  }

  async closeSession(id: string, code: number, reason: string): Promise<boolean> {
    const answers = await this.requests.ask(this.workers.live(), (reqId) => ({
      type: "closeSession",
      reqId,
      id,
      code,
      reason,
    }));
    return answers.some(({ answer }) => answer.closed);
  }

  /** Every worker drains its own copy of the pools; the answer counts the sessions of all of them. */
  async drainServer(server: string, overMs: number, pool?: string): Promise<DrainedServer[]> {
    const answers = await this.requests.ask(this.workers.live(), (reqId) => ({
      type: "drainServer",
      reqId,
      server,
      overMs,
      ...(pool === undefined ? {} : { pool }),
    }));
    const merged = new Map<string, DrainedServer>();
    for (const drained of answers.flatMap(({ answer }) => answer.drained)) {
      const key = `${drained.pool} ${drained.url}`;
      const seen = merged.get(key);
      if (seen === undefined) merged.set(key, { ...drained });
      else seen.sessions += drained.sessions;
    }
    return [...merged.values()];
  }

  async status(): Promise<StatusView> {
    const answers = await this.requests.ask(this.workers.live(), (reqId) => ({ type: "status", reqId }));
    return mergeStatus(answers.map(({ answer }) => answer.status));
  }

  /**
   * Every worker's registry and the primary's own (config reloads, build info, its process), summed per metric
   * (prom-client's cluster aggregation, over our own IPC).
   */
  async metrics(): Promise<{ contentType: string; body: string }> {
    const answers = await this.requests.ask(this.workers.live(), (reqId) => ({ type: "metrics", reqId }));
    const own = await this.ownMetrics.registry.getMetricsAsJSON();
    const registry = AggregatorRegistry.aggregate([own, ...answers.map(({ answer }) => answer.metrics)]);
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  /** Each worker counts its own sessions and views its first `rows`; the primary adds them up. */
  async sessionSummary(rows: number): Promise<SessionSummary> {
    const answers = await this.requests.ask(this.workers.live(), (reqId) => ({ type: "sessionSummary", reqId, rows }));
    return mergeSessionSummaries(
      answers.map(({ answer }) => answer.summary),
      rows,
    );
  }

  /** The workers' charted counters and relayed sums (the primary relays nothing and refuses no handshake). */
  async chartTotals(counters: readonly string[]): Promise<ChartTotals> {
    const answers = await this.requests.ask(this.workers.live(), (reqId) => ({
      type: "chartTotals",
      reqId,
      counters: [...counters],
    }));
    return mergeChartTotals(answers.map(({ answer }) => answer.totals));
  }

  settled(): Promise<string | undefined> {
    return this.applies.until(this.seq, this.applyTimeoutMs);
  }

  /**
   * Listening sockets this primary holds from now on (a failed `wsgate upgrade` keeps the ones it took from its
   * workers): every worker, and each one that replaces a dead one, listens on them as `{ fd }`.
   */
  shareListeners(fds: SharedListenerFd[]): void {
    this.sharedListeners = [
      ...(this.sharedListeners ?? []).filter((old) => !fds.some((fd) => fd.fd === old.fd)),
      ...fds,
    ];
  }

  /**
   * A shared socket whose HTTPServer is gone from the objects, or listens elsewhere now, is forgotten: node:cluster
   * closes its fd once no worker listens on it, and the server added back later binds anew.
   */
  private forgetSharedListenersGone(objects: readonly ConfigObject[]): void {
    if (this.sharedListeners === undefined) return;
    this.sharedListeners = this.sharedListeners.filter(({ server, port, boundPort }) =>
      objects.some(
        (object) =>
          object.kind === "HTTPServer" &&
          object.name === server &&
          (object.data["port"] === port || object.data["port"] === boundPort),
      ),
    );
  }

  // ---- for runCluster ----

  /** Resolves once `workers` workers run the first objects; with the first error if they could not. */
  started(workers: number, timeoutMs: number): Promise<string | undefined> {
    return this.applies.until(this.seq, timeoutMs, workers);
  }

  /** The addresses the workers serve (the real port when the config says 0). */
  listeners(): ListenerView[] {
    return this.applies.listeners();
  }

  // ---- WorkerEvents (from the supervisor) ----

  ready(worker: Worker): void {
    this.sendApply(worker);
  }

  message(worker: Worker, message: WorkerMessage): void {
    if (message.type === "applied") {
      if (message.error !== undefined)
        this.log.error({ worker: worker.id, seq: message.seq, error: message.error }, "worker cannot apply");
      else this.log.debug({ worker: worker.id, pid: worker.process.pid, seq: message.seq }, "worker applied");
      this.applies.acknowledged(worker.id, message);
    } else if (message.type === "reply") {
      this.requests.replied(worker, message);
    }
  }

  gone(worker: Worker): void {
    this.requests.workerGone(worker);
    this.applies.workerGone(worker.id);
  }

  gaveUp(): void {
    this.onGaveUp();
  }

  private sendApply(worker: Worker): void {
    const message: ApplyMessage = {
      type: "apply",
      seq: this.seq,
      objects: this.objects,
      ...(this.sharedListeners === undefined ? {} : { sharedListeners: this.sharedListeners }),
      ...(this.firstSessionId === undefined ? {} : { firstSessionId: this.firstSessionId }),
    };
    worker.send(message, () => undefined);
  }
}

/** One summary for the gateway: the workers run the same objects, so they change the same ones; drains add up. */
function mergeSummaries(summaries: readonly ApplySummary[]): ApplySummary {
  const [first] = summaries;
  return {
    added: first?.added ?? [],
    updated: first?.updated ?? [],
    deleted: first?.deleted ?? [],
    relistened: first?.relistened ?? [],
    drained: summaries.reduce((sum, summary) => sum + summary.drained, 0),
  };
}
