import type { Registry } from "prom-client";
import { formatConfigError } from "../config/errors.js";
import type { ConfigObject, GatewayConfig } from "../config/load.js";
import type { ValidationOptions } from "../config/admin-targets.js";
import { validateObjects } from "../config/load.js";
import { gatewaySchema, type GatewaySpec } from "../config/kinds/gateway.js";
import type { ApplySummary, GatewayTelemetry, Listener } from "../gateway.js";
import type { Logger } from "../observability/logger.js";
import type { LiveSession } from "../observability/sessions.js";
import type { DrainedServer } from "../upstream/status.js";
import { operatorCloseCode } from "./close-codes.js";
import { listenerView } from "./listener-view.js";
import type { ChartTotals, GatewayControl, SessionSummary, SessionView, StatusView } from "./control.js";
import { readChartTotals, summarizeSessions } from "./dashboard-reads.js";
import { gatewaySessionId, sessionView } from "./session-view.js";
import type { ObjectStore } from "./object-store.js";
import type { ObjectSources } from "./object-sources.js";

/**
 * What the control needs of the running gateway: apply a config, see its sessions, listeners and telemetry. An
 * interface, so that the control (and its tests) need not know how a gateway is built.
 */
export interface ControlledGateway {
  apply(config: GatewayConfig): Promise<ApplySummary>;
  readonly sessions: { list(): readonly LiveSession[]; values?(): Iterable<LiveSession>; readonly size: number };
  readonly listening: readonly Listener[];
  readonly telemetry: GatewayTelemetry;
}

export interface LocalControlOptions {
  /** The Gateway object the process started with: its settings only change at the next start. */
  startSettings?: GatewaySpec;
  /** Where `metrics()` reads from; default: the gateway's own registry. */
  metricsRegistry?: Registry;
  /**
   * The objects the gateway started on, when the store may have moved on since (a cluster store keeps watching while
   * the gateway starts): a store that differs is applied at once. Default: the store's set, as it is now.
   */
  running?: readonly ConfigObject[];
  /** What validation of a store change keeps clear of: the running admin listener. Default: as the objects say. */
  validation?: () => ValidationOptions;
  /** A gateway run from files: where each object comes from (see ObjectSources). */
  sources?: ObjectSources;
}

/**
 * The control of a gateway running in this process: every change the store reports is validated and applied to the
 * gateway, one at a time; a burst of changes is applied once, as its last set.
 */
export class LocalControl implements GatewayControl {
  private applying: Promise<string | undefined> = Promise.resolve(undefined);
  private latest: ConfigObject[] | undefined;
  private lastApplyError: string | undefined;
  /** The set running now, as JSON: a store change that brings the same set again is not applied twice. */
  private appliedJson: string | undefined;
  private readonly metricsRegistry: Registry;
  readonly sources: ObjectSources | undefined;

  constructor(
    readonly store: ObjectStore,
    private readonly gateway: ControlledGateway,
    private readonly log: Logger,
    private readonly options: LocalControlOptions = {},
  ) {
    this.metricsRegistry = options.metricsRegistry ?? gateway.telemetry.metrics.registry;
    this.sources = options.sources;
    const current = store.list().map((stored) => stored.object);
    this.appliedJson = JSON.stringify(options.running ?? current);
    store.onChange((objects) => this.schedule(objects));
    // Changes the store heard before this control listened: apply the set as it is now (a no-op when the same).
    if (options.running !== undefined) this.schedule(current);
  }

  private schedule(objects: ConfigObject[]): void {
    this.latest = objects;
    this.applying = this.applying.then(() => this.applyLatest());
  }

  settled(): Promise<string | undefined> {
    return this.applying;
  }

  /**
   * A whole new set from the config files (SIGHUP, `--watch`): applied first and kept in the store only when it ran,
   * so a set that cannot run (a port in use) leaves the store and the gateway as they were. Throws with the reason.
   */
  replaceFromFiles(config: GatewayConfig): Promise<ApplySummary> {
    const run = this.applying.then(async () => {
      this.warnOnStartOnlyChanges(config);
      const summary = await this.gateway.apply(config).catch((error: unknown) => {
        // The status tells the last failure, whichever way the change came.
        this.lastApplyError = error instanceof Error ? error.message : String(error);
        throw error;
      });
      this.appliedJson = JSON.stringify(config.objects);
      this.lastApplyError = undefined;
      await this.store.replaceAll(config.objects);
      return summary;
    });
    this.applying = run.then(
      () => this.lastApplyError,
      () => this.lastApplyError,
    );
    return run;
  }

  private async applyLatest(): Promise<string | undefined> {
    const objects = this.latest;
    // An earlier step of this chain already applied the newest set.
    if (objects === undefined) return this.lastApplyError;
    this.latest = undefined;
    const json = JSON.stringify(objects);
    if (json === this.appliedJson) return this.lastApplyError;
    const result = validateObjects(objects, "objects", this.options.validation?.() ?? {});
    if (!result.ok) {
      const errors = result.errors.map(formatConfigError);
      this.log.error({ event: "config_rejected", errors }, "config rejected: the objects are not valid together");
      this.lastApplyError = `invalid configuration: ${errors.join("; ")}`;
      this.gateway.telemetry.metrics.configReloaded("rejected");
      return this.lastApplyError;
    }
    this.warnOnStartOnlyChanges(result.config);
    try {
      const summary = await this.gateway.apply(result.config);
      this.appliedJson = json;
      this.lastApplyError = undefined;
      this.log.info({ event: "config_applied", trigger: "store", ...summary }, "config applied");
      this.gateway.telemetry.metrics.configReloaded("applied");
    } catch (error) {
      this.lastApplyError = error instanceof Error ? error.message : String(error);
      this.gateway.telemetry.metrics.configReloaded("rejected");
      this.log.error({ event: "config_apply_failed", error: this.lastApplyError }, "config could not be applied");
    }
    return this.lastApplyError;
  }

  private warnOnStartOnlyChanges(config: GatewayConfig): void {
    const before = settingsOf(this.options.startSettings);
    const after = settingsOf(config.gateway);
    const changed = Object.keys({ ...before, ...after }).filter(
      (field) => JSON.stringify(before[field]) !== JSON.stringify(after[field]),
    );
    if (changed.length === 0) return;
    this.log.warn({ event: "restart_required", fields: changed }, "Gateway settings take effect at the next start");
  }

  sessions(): Promise<SessionView[]> {
    const now = Date.now();
    return Promise.resolve(this.gateway.sessions.list().map((session) => sessionView(session, now)));
  }

  /** Counts without a view per session: only the first `rows` sessions are turned into views. */
  sessionSummary(rows: number): Promise<SessionSummary> {
    const live = this.gateway.sessions;
    return Promise.resolve(summarizeSessions(live.values?.() ?? live.list(), rows, Date.now()));
  }

  /** The charted counters' series from the registry (not the whole exposition), and the relayed sums. */
  chartTotals(names: readonly string[]): Promise<ChartTotals> {
    return readChartTotals(this.metricsRegistry, this.gateway.telemetry.metrics.relayedTotals(), names);
  }

  closeSession(id: string, code: number, reason: string): Promise<boolean> {
    const checked = operatorCloseCode(code);
    const session = this.gateway.sessions.list().find((live) => gatewaySessionId(live.id) === id);
    if (session === undefined) return Promise.resolve(false);
    this.log.info({ event: "session_closed_by_operator", session: id, code: checked, reason }, "closing session");
    session.close(checked, reason);
    return Promise.resolve(true);
  }

  drainServer(server: string, overMs: number, pool?: string): Promise<DrainedServer[]> {
    return Promise.resolve(this.gateway.telemetry.upstreamStatus.drain(server, overMs, pool));
  }

  status(): Promise<StatusView> {
    const view: StatusView = {
      listeners: this.gateway.listening.map(listenerView),
      pools: this.gateway.telemetry.upstreamStatus.pools(),
      sessions: this.gateway.sessions.size,
    };
    if (this.lastApplyError !== undefined) view.lastApplyError = this.lastApplyError;
    return Promise.resolve(view);
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.metricsRegistry.contentType, body: await this.metricsRegistry.metrics() };
  }
}

/** The start-only fields of a Gateway object, without its kind and name; the defaults when there is none. */
function settingsOf(spec: GatewaySpec | undefined): Record<string, unknown> {
  const { kind: _kind, name: _name, ...settings } = spec ?? gatewaySchema.parse({ kind: "Gateway", name: "defaults" });
  return settings;
}
