// `wsgate run` and `wsgate demo`: start the gateway on its objects, wire the store, the control and the admin API,
// reload the files on SIGHUP and `--watch`, and drain on SIGTERM/SIGINT.
import type { AddressInfo } from "node:net";
import { AdminServer, type AdminServerOptions } from "../admin/server.js";
import { runCluster } from "../cluster/run-cluster.js";
import type { GatewayConfig } from "../config/load.js";
import { fileReloader, watchConfigFiles, type ApplyConfig } from "../control/file-reload.js";
import type { EchoBackend } from "../demo/echo-backend.js";
import { Gateway, type GatewayOptions, type Listener } from "../gateway.js";
import type { Logger } from "../observability/logger.js";
import { startControlPlane } from "./control-plane.js";

export interface ServeOptions {
  log: Logger;
  drainMs: number;
  admin: AdminServerOptions | "off";
  gateway: GatewayOptions;
  /** Config files to reload on SIGHUP (and on change with `watch`). */
  reload?: { paths: string[]; watch: boolean };
  /** The demo's echo backends, closed with the gateway. */
  backends?: EchoBackend[];
}

export interface Serving {
  listening: readonly Listener[];
  admin?: AddressInfo;
}

/** Raised when the gateway or its admin API cannot start; the CLI prints the message and exits 2. */
export class StartError extends Error {}

/**
 * Reloads of `wsgate run`: SIGHUP, and with `--watch` any change of the files, load the files and hand them to
 * `apply`. Returns a function that stops both.
 */
export function reloadOnSignalAndChange(
  paths: readonly string[],
  watch: boolean,
  apply: ApplyConfig,
  log: Logger,
): () => void {
  const reload = fileReloader(paths, apply, log);
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

/** One process: the gateway, its store and control, the admin API; runs until SIGTERM or SIGINT. */
export async function serveInProcess(config: GatewayConfig, options: ServeOptions): Promise<Serving> {
  const { log, drainMs, admin, backends = [] } = options;
  const closeBackends = (): Promise<unknown> => Promise.all(backends.map((backend) => backend.close()));
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(config, log, options.gateway);
  } catch (error) {
    await closeBackends();
    throw new StartError((error as Error).message);
  }
  let plane;
  try {
    plane = await startControlPlane(gateway, config, log, admin);
  } catch (error) {
    await gateway.stop(0);
    await closeBackends();
    const where = admin === "off" ? "" : ` on ${admin.host}:${admin.port}`;
    throw new StartError(`cannot start the admin API${where}: ${(error as Error).message}`);
  }
  const control = plane.control;
  const stopReloading =
    options.reload === undefined
      ? () => {}
      : reloadOnSignalAndChange(
          options.reload.paths,
          options.reload.watch,
          (next) => control.replaceFromFiles(next),
          log,
        );
  stopOnSignals(log, async (signal) => {
    stopReloading();
    log.info({ signal, sessions: gateway.sessions.size }, "stopping: closing sessions with 1001");
    await plane.close();
    await gateway.stop(drainMs);
    await closeBackends();
  });
  for (const listener of gateway.listening) {
    log.info({ server: listener.server, port: listener.address.port, address: listener.address.address }, "listening");
  }
  return { listening: gateway.listening, ...(plane.admin === undefined ? {} : { admin: plane.admin.address }) };
}

/**
 * Several workers behind a primary (node:cluster): the primary keeps the store and the admin API, the workers serve.
 * A file reload goes to the store; when the workers cannot run the new set, the store goes back to the old one.
 */
export async function serveCluster(
  config: GatewayConfig,
  options: ServeOptions & { workers: number },
): Promise<Serving> {
  const { log, drainMs, admin } = options;
  let adminAddress: AddressInfo | undefined;
  let cluster;
  try {
    cluster = await runCluster({
      workers: options.workers,
      objects: config.objects,
      log,
      drainMs,
      ...(options.gateway.bindAddress === undefined ? {} : { bindAddress: options.gateway.bindAddress }),
      adminStart: async (control) => {
        if (admin === "off") return;
        const server = new AdminServer(admin, control, log);
        adminAddress = await server.listen();
        return () => server.close();
      },
    });
  } catch (error) {
    throw new StartError((error as Error).message);
  }
  const { control } = cluster;
  if (options.reload !== undefined) {
    reloadOnSignalAndChange(options.reload.paths, options.reload.watch, (next) => control.replaceFromFiles(next), log);
  }
  return { listening: [], ...(adminAddress === undefined ? {} : { admin: adminAddress }) };
}
