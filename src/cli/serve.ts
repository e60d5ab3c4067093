// `wsgate run` and `wsgate demo`: start the gateway on its objects, wire the store, the control and the admin API,
// reload the files on SIGHUP and `--watch`, and drain on SIGTERM/SIGINT.
import type { ChildProcess } from "node:child_process";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import type { MemberSource } from "../admin/members.js";
import { AdminServer, type AdminServerOptions } from "../admin/server.js";
import { withConfigChanges } from "../admin/dashboard/config-changes.js";
import { runCluster } from "../cluster/run-cluster.js";
import type { GatewayConfig } from "../config/load.js";
import type { EtcdObjectStore } from "../control/etcd-store.js";
import { fileReloader, watchConfigFiles, type ApplyConfig, type ReloadCounter } from "../control/file-reload.js";
import type { LocalControl } from "../control/local-control.js";
import type { ClusterControl } from "../cluster/cluster-control.js";
import { ObjectSources } from "../control/object-sources.js";
import { defaultMemberId, listMembers, Membership } from "../control/membership.js";
import type { EchoBackend } from "../demo/echo-backend.js";
import { Gateway, createGatewayTelemetry, type ApplySummary, type GatewayOptions, type Listener } from "../gateway.js";
import type { Logger } from "../observability/logger.js";
import { GatewayMetrics, NO_POOLS } from "../observability/metrics.js";
import type { ValidationOptions } from "../config/admin-targets.js";
import { runningAdmin } from "./admin-settings.js";
import { startControlPlane } from "./control-plane.js";
import { startupError } from "../errors.js";
import { Upgrader } from "../control/upgrade.js";
import type { UpgradeOutcome } from "../control/upgrade-protocol.js";
import { ClusterUpgrader } from "../cluster/upgrade-primary.js";
import { relayIntoNewPrimary } from "../cluster/handover-relay-primary.js";
import type { SharedListenerFd } from "../cluster/protocol.js";
import type { Predecessor } from "../control/upgrade-successor.js";
import type { HandoverChannel, TakeSessions } from "../proxy/handover-types.js";

export interface ServeOptions {
  log: Logger;
  drainMs: number;
  admin: AdminServerOptions | "off";
  gateway: GatewayOptions;
  /** wsgate's version, for wsgate_build_info. */
  version: string;
  /**
   * Config files to reload on SIGHUP (and on change with `watch`), and where the objects created through the admin API
   * are saved (undefined: creating them is refused).
   */
  reload?: { paths: string[]; watch: boolean; stateFile?: string | undefined };
  /** The demo's echo backends, closed with the gateway. */
  backends?: EchoBackend[];
  /** `--store etcd://...`: this process is a member of a cluster whose objects live in this (open) store. */
  cluster?: ClusterServe;
  /** How `wsgate upgrade` and SIGUSR2 replace this process; unset, they are refused (said in the log / answer). */
  upgrade?: { drainMs: number };
  /** Started by `wsgate upgrade`: the process being replaced, whose listening sockets this one accepts on. */
  predecessor?: Predecessor | undefined;
  /** With workers, started by `wsgate upgrade`: the predecessor's listening sockets, held here for the workers. */
  sharedListeners?: SharedListenerFd[] | undefined;
}

/** A cluster member's settings: its store (already open, closed when the member stops) and how it registers. */
export interface ClusterServe {
  store: EtcdObjectStore;
  name: string;
  /** The member lease's TTL: how long a member that died stays listed. */
  memberTtlSeconds: number;
  /** wsgate's version, published in the member entry. */
  version: string;
  memberId?: string;
}

export interface Serving {
  listening: readonly Listener[];
  admin?: AddressInfo;
  /** Started by `wsgate upgrade`: takes up the sessions the predecessor hands over on `channel`. */
  takeSessions?: (channel: HandoverChannel) => TakeSessions;
  /** With workers, started by `wsgate upgrade`: relays the predecessor's sessions to the workers until stopped. */
  relaySessions?: () => { stop(): void };
}

/** Raised when the gateway or its admin API cannot start; the CLI prints the message and exits 2. */
export class StartError extends startupError("WSG_START_FAILED") {}

/**
 * Reloads of `wsgate run`: SIGHUP, and with `--watch` any change of the files, load the files and hand them to
 * `apply`. Returns a function that stops both.
 */
export function reloadOnSignalAndChange(
  paths: readonly string[],
  watch: boolean,
  apply: ApplyConfig,
  log: Logger,
  reloads: ReloadCounter,
  validation: () => ValidationOptions = () => ({}),
): () => void {
  const reload = fileReloader(paths, apply, log, reloads, validation);
  const onHangup = (): void => void reload("SIGHUP");
  process.on("SIGHUP", onHangup);
  const stopWatching = watch
    ? watchConfigFiles(
        paths,
        () => void reload("watch"),
        (path, error) =>
          log.warn({ path, err: error.message }, "cannot watch a config path: changes there are not seen"),
      )
    : () => {};
  return () => {
    process.off("SIGHUP", onHangup);
    stopWatching();
  };
}

/** A file reload: the files' new objects with those created through the admin API, which a reload keeps. */
async function reloadKeepingApiObjects(
  control: LocalControl | ClusterControl,
  sources: ObjectSources,
  files: GatewayConfig,
): Promise<ApplySummary> {
  const summary = await control.replaceFromFiles(sources.mergeWithFiles(files, control.store));
  sources.takeFiles(files);
  return summary;
}

const STORE_HANGUP = "SIGHUP does nothing with --store: the objects live in etcd; change them with wsgate apply/delete";

/**
 * Where SIGHUP must not reload (`--store`: the files are only a seed; a process stopping or draining after an
 * upgrade) it says why instead, and never kills the process, which is what SIGHUP does without a handler. Returns a
 * function that removes the handler.
 */
function ignoreHangup(log: Logger, why: string): () => void {
  const onHangup = (): void => log.warn({ event: "reload_ignored", trigger: "SIGHUP" }, why);
  process.on("SIGHUP", onHangup);
  return () => process.off("SIGHUP", onHangup);
}

/** The member list of `cluster`, read from etcd on each call. */
function memberSource(cluster: ClusterServe): MemberSource {
  return { listMembers: () => listMembers(cluster.store.client, cluster.name) };
}

/** An admin address other members can call: a wildcard host becomes the member's address or host name. */
function reachableAdmin(address: AddressInfo, memberAddress: string): string {
  const wildcard = address.address === "0.0.0.0" || address.address === "::";
  const host = wildcard ? memberAddress || hostname() : address.address;
  return `${host.includes(":") ? `[${host}]` : host}:${address.port}`;
}

/** Registers this process under `/wsgate/<cluster>/members/<id>` once its admin API listens. */
async function joinCluster(
  cluster: ClusterServe,
  log: Logger,
  address: string,
  admin: AddressInfo | undefined,
  sessionCount: () => number,
): Promise<Membership> {
  return Membership.join({
    client: cluster.store.client,
    cluster: cluster.name,
    id: cluster.memberId ?? defaultMemberId(),
    address,
    ...(admin === undefined ? {} : { adminAddress: reachableAdmin(admin, address) }),
    version: cluster.version,
    sessionCount,
    log,
    ttlSeconds: cluster.memberTtlSeconds,
  });
}

/** Calls `stop` once on the first SIGTERM or SIGINT, then exits 0 when it is done. */
export function stopOnSignals(log: Logger, stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    void stop(signal)
      .catch((error: unknown) => log.error({ err: error }, "stop failed"))
      .then(() => process.exit(0));
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
}

/**
 * `wsgate upgrade` through the admin API and SIGUSR2, when `upgrade` says this process can be upgraded in place;
 * otherwise both say why not (SIGUSR2 would end the process without a handler).
 */
function upgradeOnRequest(
  log: Logger,
  admin: AdminServer | undefined,
  upgrade: ServeOptions["upgrade"],
  upgraderOf: (upgrade: NonNullable<ServeOptions["upgrade"]>) => { upgrade(): Promise<UpgradeOutcome> },
): void {
  if (upgrade === undefined) {
    refuseUpgrades(log);
    return;
  }
  const upgrader = upgraderOf(upgrade);
  admin?.serveUpgrades(() => upgrader.upgrade());
  // The upgrader logs the outcome, failure included.
  process.on("SIGUSR2", () => void upgrader.upgrade().catch(() => undefined));
}

function refuseUpgrades(log: Logger): void {
  process.on("SIGUSR2", () =>
    log.warn(
      { event: "upgrade_refused", trigger: "SIGUSR2" },
      "SIGUSR2: this process cannot be upgraded in place (only `wsgate run` from config files, not with --store)",
    ),
  );
}

/** Exits 0 once `stopped` is done, or a while after its drain time if something holds it. */
function exitAfter(stopped: Promise<void>, drainMs: number): Promise<void> {
  const cut = setTimeout(() => process.exit(0), drainMs + 5_000);
  cut.unref();
  return stopped.finally(() => process.exit(0));
}

/** One process: the gateway, its store and control, the admin API; runs until SIGTERM or SIGINT. */
export async function serveInProcess(config: GatewayConfig, options: ServeOptions): Promise<Serving> {
  const { log, drainMs, admin, backends = [], cluster } = withConfigChanges(options);
  const closeBackends = (): Promise<unknown> => Promise.all(backends.map((backend) => backend.close()));
  let gateway: Gateway;
  try {
    // The process's metrics (its CPU, memory, build) go with this gateway's, served by the admin API below.
    const telemetry = options.gateway.telemetry ?? createGatewayTelemetry({ build: { version: options.version } });
    options.predecessor?.carryCountersInto(telemetry.metrics);
    const inherited =
      options.predecessor === undefined
        ? {}
        : { inherited: options.predecessor, firstSessionId: options.predecessor.firstSessionId };
    gateway = await Gateway.start(config, log, { ...options.gateway, telemetry, ...inherited });
  } catch (error) {
    await closeBackends();
    await cluster?.store.close();
    throw new StartError((error as Error).message);
  }
  const sources = options.reload === undefined ? undefined : new ObjectSources(config, options.reload.stateFile);
  let plane;
  try {
    plane = await startControlPlane(
      gateway,
      config,
      log,
      admin,
      cluster === undefined
        ? {
            ...(sources === undefined ? {} : { sources }),
            adminSocket: admin === "off" ? undefined : options.predecessor?.takeAdmin(admin.host, admin.port),
          }
        : { store: cluster.store, members: memberSource(cluster) },
    );
  } catch (error) {
    await gateway.stop(0);
    await closeBackends();
    const where = admin === "off" ? "" : ` on ${admin.host}:${admin.port}`;
    throw new StartError(`cannot start the admin API${where}: ${(error as Error).message}`);
  }
  const control = plane.control;
  const stopReloading =
    cluster !== undefined
      ? ignoreHangup(
          log,
          "SIGHUP does nothing with --store: the objects live in etcd; change them with wsgate apply/delete",
        )
      : options.reload === undefined || sources === undefined
        ? () => {}
        : reloadOnSignalAndChange(
            options.reload.paths,
            options.reload.watch,
            (next) => reloadKeepingApiObjects(control, sources, next),
            log,
            gateway.telemetry.metrics,
            () => runningAdmin(admin, plane.admin?.address),
          );
  // Once stopping or handed over, a SIGHUP (a config hook, `pkill -HUP`) must not reload nor kill the sessions left.
  let reloadsEnded = false;
  const endReloads = (why: string): void => {
    if (reloadsEnded) return;
    reloadsEnded = true;
    stopReloading();
    ignoreHangup(log, why);
  };
  let membership: Membership | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (signal: string): Promise<void> =>
    (stopping ??= (async () => {
      endReloads("SIGHUP does nothing while the gateway stops");
      log.info({ signal, sessions: gateway.sessions.size }, "stopping: closing sessions with 1001");
      // Leave the cluster first (the entry goes at once), while the store's client is still open.
      await membership?.close();
      await plane.close();
      await gateway.stop(drainMs);
      await closeBackends();
    })());
  // Before the "listening" lines: whoever waits for them (a test, a supervisor) may signal at once, and the process
  // can be descheduled between writing a line and the next statement.
  stopOnSignals(log, stop);
  upgradeOnRequest(log, plane.admin?.server, options.upgrade, (upgrade) => {
    return new Upgrader({
      gateway,
      log,
      admin: plane.admin === undefined || admin === "off" ? undefined : { server: plane.admin.server, ...admin },
      drainMs: upgrade.drainMs,
      handedOver: () =>
        endReloads("SIGHUP does nothing here: the new process runs the config; this one drains what stayed"),
      exit: () => exitAfter(stop("upgrade"), drainMs),
    });
  });
  for (const listener of gateway.listening) {
    log.info({ server: listener.server, port: listener.address.port, address: listener.address.address }, "listening");
  }
  // After the admin API listens, so the entry can say where it is; the first listener's address when not bound.
  if (cluster !== undefined) {
    const address = options.gateway.bindAddress ?? gateway.listening[0]?.address.address ?? "";
    membership = await joinCluster(cluster, log, address, plane.admin?.address, () => gateway.sessions.size);
  }
  return {
    listening: gateway.listening,
    ...(plane.admin === undefined ? {} : { admin: plane.admin.address }),
    takeSessions: (channel) => gateway.takeSessions(channel),
  };
}

/**
 * Several workers behind a primary (node:cluster): the primary keeps the store and the admin API, the workers serve.
 * A file reload goes to the store; when the workers cannot run the new set, the store goes back to the old one.
 */
export async function serveCluster(
  config: GatewayConfig,
  options: ServeOptions & { workers: number },
): Promise<Serving> {
  const { log, drainMs, admin } = withConfigChanges(options);
  const member = options.cluster;
  let adminAddress: AddressInfo | undefined;
  let cluster;
  const sources =
    member === undefined && options.reload !== undefined
      ? new ObjectSources(config, options.reload.stateFile)
      : undefined;
  // The primary's own metrics (reloads, build, its process), served with the workers'.
  const metrics = new GatewayMetrics(NO_POOLS, { build: { version: options.version } });
  let adminServer: AdminServer | undefined;
  try {
    cluster = await runCluster({
      control: {
        ...(sources === undefined ? {} : { sources }),
        metrics,
        ...(options.sharedListeners === undefined ? {} : { sharedListeners: options.sharedListeners }),
        ...(options.predecessor === undefined ? {} : { firstSessionId: options.predecessor.firstSessionId }),
      },
      version: options.version,
      workers: options.workers,
      objects: config.objects,
      ...(member === undefined ? {} : { store: member.store, handleSignals: false }),
      log,
      drainMs,
      ...(options.gateway.bindAddress === undefined ? {} : { bindAddress: options.gateway.bindAddress }),
      adminStart: async (control) => {
        if (admin === "off") return;
        const server = new AdminServer(admin, control, log, member === undefined ? undefined : memberSource(member));
        adminAddress = await server.listen(options.predecessor?.takeAdmin(admin.host, admin.port));
        adminServer = server;
        return () => server.close();
      },
    });
  } catch (error) {
    throw new StartError((error as Error).message);
  }
  const { control } = cluster;
  const running = cluster;
  let stopReloading: () => void = () => {};
  if (member !== undefined) refuseUpgrades(log);
  else {
    upgradeOnRequest(log, adminServer, options.upgrade, (upgrade) => {
      const server = adminServer;
      return new ClusterUpgrader({
        workers: () => running.workers(),
        log,
        admin: server === undefined || admin === "off" ? undefined : { server, ...admin },
        drainMs: upgrade.drainMs,
        shareListeners: (fds) => control.shareListeners(fds),
        handedOver: () => {
          stopReloading();
          ignoreHangup(
            log,
            "SIGHUP does nothing here: the new primary runs the config; these workers drain what stayed",
          );
        },
        retire: async (drain) => {
          await running.retire(drain);
          process.exit(0);
        },
      });
    });
  }
  if (member !== undefined) {
    ignoreHangup(log, STORE_HANGUP);
    // The member entry's session count: the workers are asked every few seconds (the entry is written when it changes).
    let sessions = 0;
    const counting = setInterval(() => {
      control.status().then(
        (status) => (sessions = status.sessions),
        () => undefined,
      );
    }, 2000);
    counting.unref();
    // Set once joined; a signal before that stops without it (the entry then goes with its lease).
    const joined: { membership?: Membership } = {};
    stopOnSignals(log, async (signal) => {
      log.info({ signal, drainMs }, "stopping: leaving the cluster, draining every worker");
      clearInterval(counting);
      await joined.membership?.close();
      await running.stop();
    });
    const address = options.gateway.bindAddress ?? control.listeners()[0]?.address ?? "";
    joined.membership = await joinCluster(member, log, address, adminAddress, () => sessions);
  } else if (options.reload !== undefined && sources !== undefined) {
    stopReloading = reloadOnSignalAndChange(
      options.reload.paths,
      options.reload.watch,
      (next) => reloadKeepingApiObjects(control, sources, next),
      log,
      metrics,
      () => runningAdmin(admin, adminAddress),
    );
  }
  return {
    listening: [],
    ...(adminAddress === undefined ? {} : { admin: adminAddress }),
    relaySessions: () => {
      // Lane k (old worker k + 1) goes to the (k mod n)-th worker here, in cluster id order.
      const inOrder = (): ChildProcess[] =>
        running
          .workers()
          .sort((a, b) => a.id - b.id)
          .map((worker) => worker.process);
      const hub = relayIntoNewPrimary({ workers: inOrder, log });
      return { stop: () => hub.close() };
    },
  };
}
