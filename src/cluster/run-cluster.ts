import type { Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import type { ConfigObject } from "../config/load.js";
import type { GatewayControl } from "../control/control.js";
import { MemoryObjectStore } from "../control/memory-store.js";
import type { ObjectStore } from "../control/object-store.js";
import type { Logger } from "../observability/logger.js";
import { ClusterControl, type ClusterControlOptions } from "./cluster-control.js";
import { ClusterStartError } from "./errors.js";
import { WorkerSupervisor } from "./worker-supervisor.js";

export interface ClusterOptions {
  /** How many workers (already resolved: see parseWorkerCount). */
  workers: number;
  /** Where the objects live; without one, a memory store seeded with `objects`. */
  store?: ObjectStore;
  objects?: ConfigObject[];
  log: Logger;
  /** On SIGTERM/SIGINT, how long sessions get to close (each worker drains in parallel). */
  drainMs: number;
  /** Starts the admin API on the whole gateway once the workers serve; may return how to close it. */
  adminStart?: (control: GatewayControl) => Promise<void | (() => Promise<void>)>;
  control?: ClusterControlOptions;
  /** `wsgate run --bind-address`, for every worker. */
  bindAddress?: string;
  /** wsgate's version, for every worker's wsgate_build_info. */
  version?: string;
  /** Default true: SIGTERM/SIGINT stop the cluster and exit the process with 0. */
  handleSignals?: boolean;
}

export interface RunningCluster {
  readonly control: ClusterControl;
  /** Drains every worker, closes the admin API and the store. */
  stop(): Promise<void>;
  /** The workers serving now. */
  workers(): Worker[];
  /**
   * After `wsgate upgrade`: waits for the workers to exit on their own (they drain what stayed), replacing none,
   * then closes the admin API and the store.
   */
  retire(drainMs: number): Promise<void>;
}

/** How long the first workers get to start and run the first objects. */
const START_TIMEOUT_MS = 20_000;

const WORKER_SCRIPT = fileURLToPath(new URL("./worker-main.js", import.meta.url));

/**
 * The primary: forks the workers, which share the listeners (node:cluster), and drives them. The primary itself
 * never serves traffic. Throws ClusterStartError when the workers cannot run the first objects.
 */
export async function runCluster(options: ClusterOptions): Promise<RunningCluster> {
  const { log, drainMs } = options;
  const store = options.store ?? new MemoryObjectStore(options.objects ?? []);
  const supervisor = new WorkerSupervisor({
    count: options.workers,
    exec: WORKER_SCRIPT,
    args: [
      "--log-level",
      log.level,
      "--drain-ms",
      String(drainMs),
      ...(options.bindAddress === undefined ? [] : ["--bind-address", options.bindAddress]),
      ...(options.version === undefined ? [] : ["--build-version", options.version]),
    ],
    log,
  });
  const control = new ClusterControl(store, supervisor, log, options.control);
  const admin: { close?: () => Promise<void> } = {};
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await admin.close?.();
      await supervisor.stop(drainMs);
      await store.close();
    })());
  // A crash loop that leaves no worker: exit non-zero, so that a supervisor (systemd, k8s) restarts the gateway.
  control.onGaveUp = () => {
    log.fatal("no worker left: exiting");
    void stop().finally(() => process.exit(1));
  };
  log.info({ workers: options.workers, pid: process.pid }, "starting workers");
  supervisor.start(control);

  const startError = await control.started(options.workers, START_TIMEOUT_MS);
  if (startError !== undefined) {
    await stop();
    throw new ClusterStartError(startError);
  }
  // Before the "listening" lines: whoever waits for them may signal at once.
  if (options.handleSignals ?? true) {
    const onSignal = (signal: string): void => {
      log.info({ signal, drainMs }, "stopping: draining every worker");
      void stop().then(() => process.exit(0));
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
  }
  for (const listener of control.listeners()) {
    log.info({ server: listener.server, port: listener.port, address: listener.address }, "listening");
  }
  const closeAdmin = await options.adminStart?.(control);
  if (typeof closeAdmin === "function") admin.close = closeAdmin;

  const retire = async (retireDrainMs: number): Promise<void> => {
    await supervisor.retire(retireDrainMs);
    await admin.close?.();
    await store.close();
  };
  return { control, stop, workers: () => supervisor.live(), retire };
}
