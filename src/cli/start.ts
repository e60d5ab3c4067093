// The commands that start or check a gateway (run, demo, validate, schema): loaded only when one of them runs, so
// that help, completion and the admin client start without loading the gateway.
import { existsSync } from "node:fs";
import { parseDuration } from "../schema/duration.js";
import { defaultStateFile } from "../control/object-sources.js";
import { ConfigLoadError, formatConfigError, formatConfigWarning, type ConfigError } from "../config/errors.js";
import { loadConfig, type GatewayConfig } from "../config/load.js";
import { configJsonSchema } from "../config/reference-doc.js";
import type { AdminServerOptions } from "../admin/server.js";
import { adminSettings, adminValidation, type AdminFlags } from "./admin-settings.js";
import type { ValidationOptions } from "../config/admin-targets.js";
import { UsageError, type ParsedArgs } from "./parse.js";
import { packageRoot, packageVersion } from "./package-info.js";
import {
  demoAdminAddress,
  demoGatewayPort,
  loadDemoConfig,
  startDemoBackends,
  DEMO_BACKEND_PORTS,
  DEMO_GATEWAY_PORT,
} from "../demo/demo-setup.js";
import type { EchoBackend } from "../demo/echo-backend.js";
import {
  serveCluster,
  serveInProcess,
  StartError,
  type ClusterServe,
  type ServeOptions,
  type Serving,
} from "./serve.js";
import { chooseStore, openClusterStore } from "./store-choice.js";
import { parseWorkerCount } from "../cluster/worker-count.js";
import {
  LOG_FORMAT_ENV,
  LOG_FORMATS,
  LOG_LEVELS,
  createLogger,
  defaultLogFormat,
  type LogFormat,
  type Logger,
  type LogLevel,
} from "../observability/logger.js";
import { collectStartGarbage, stopGrowingBack, tuneProcessForServing } from "../process-tuning.js";
import { Predecessor } from "../control/upgrade-successor.js";
import { PredecessorHandles } from "../cluster/upgrade-successor-handles.js";
import { startFailureReport } from "./start-failed.js";
import type { HandoverChannel } from "../proxy/handover-types.js";

/** A flag or setting the process cannot start with: one line on stderr, exit 2 (STARTUP_ERRORS in src/errors.ts). */
function fail(message: string): never {
  throw new UsageError(message);
}

/** What becomes of the warnings of a config that loads: printed by `validate`, logged by `run`. */
type WarningSink = (warnings: readonly ConfigError[]) => void;

function printWarnings(warnings: readonly ConfigError[]): void {
  for (const warning of warnings) process.stderr.write(`${formatConfigWarning(warning)}\n`);
}

/** `run` logs each warning once at start, as the file reloader does on every reload. */
function logWarnings(log: Logger): WarningSink {
  return (warnings) => {
    for (const warning of warnings)
      log.warn({ event: "config_warning", trigger: "start" }, formatConfigWarning(warning));
  };
}

/**
 * Loads the files or throws a ConfigLoadError with their errors (exit 1); `options` says where the admin listener is
 * (no backend may be it). Warnings go to `onWarnings`.
 */
async function loadOrExit(
  paths: string[],
  options: ValidationOptions,
  onWarnings: WarningSink,
): Promise<GatewayConfig> {
  if (paths.length === 0) fail("--config is required");
  const result = await loadConfig(paths, options);
  if (result.ok) {
    onWarnings(result.warnings);
    return result.config;
  }
  throw new ConfigLoadError(result.errors);
}

/**
 * Where `wsgate run` takes its objects from: the files, or the cluster (opened, seeded with `--seed`, validated).
 * Throws StoreFlagsError (exit 2) on flags that do not go together; when the store cannot be opened or holds objects
 * that do not load, the error says so (exit 1: StoreStartTimeoutError, SeedInvalidError, ClusterObjectsInvalidError,
 * or a store's own error).
 */
async function runConfig(
  args: ParsedArgs,
  log: Logger,
): Promise<{ config: GatewayConfig; cluster?: ClusterServe; paths: string[]; stateFile?: string | undefined }> {
  const choice = chooseStore({
    store: args.string("store"),
    clusterName: args.string("cluster-name"),
    seed: args.flag("seed"),
    storeStartTimeout: args.string("store-start-timeout"),
    memberTtl: args.string("member-ttl"),
    config: args.strings("config"),
    watch: args.flag("watch"),
  });
  const validation = adminValidation(args.string("admin-address"));
  const warnings = logWarnings(log);
  const stateFlag = args.string("state-file");
  if (choice.kind === "files") {
    const stateFile = stateFlag === "off" ? undefined : (stateFlag ?? defaultStateFile(choice.paths));
    // The objects created through the admin API before the last stop come back with the files' (their source: api).
    const saved = stateFile !== undefined && existsSync(stateFile) ? [stateFile] : [];
    const config = await loadOrExit([...choice.paths, ...saved], validation, warnings);
    return { config, paths: choice.paths, stateFile };
  }
  if (stateFlag !== undefined) fail("--state-file does not go with --store: the cluster's objects live in etcd");
  const seed = choice.seedPaths.length > 0 ? await loadOrExit(choice.seedPaths, validation, warnings) : undefined;
  const { store, config } = await openClusterStore(choice, log, seed);
  const cluster: ClusterServe = {
    store,
    name: choice.cluster,
    memberTtlSeconds: choice.memberTtlSeconds,
    version: packageVersion(),
  };
  return { config, cluster, paths: [] };
}

function logLevelOf(text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text))
    fail(`unknown log level '${text}' (expected one of ${LOG_LEVELS.join(", ")})`);
  return text as LogLevel;
}

/**
 * `--log-format`, else WSGATE_LOG_FORMAT, else pretty on a terminal and JSON otherwise. The choice goes into the
 * environment, so that the workers of `run --workers N` (which inherit it) log the same way.
 */
function logFormatOf(text: string | undefined): LogFormat {
  if (text !== undefined && !(LOG_FORMATS as readonly string[]).includes(text))
    fail(`unknown log format '${text}' (expected one of ${LOG_FORMATS.join(", ")})`);
  const format = (text as LogFormat | undefined) ?? defaultLogFormat();
  process.env[LOG_FORMAT_ENV] = format;
  return format;
}

/** The logger of `run` and `demo`. */
function serverLogger(args: ParsedArgs): Logger {
  return createLogger(logLevelOf(args.string("log-level") ?? "info"), logFormatOf(args.string("log-format")));
}

/** Once serving: the last line of the log, on any exit, says how the process ended and after how long. */
function logExit(log: Logger): void {
  const started = Date.now();
  process.once("exit", (code) => {
    const line = { event: "exit", code, uptimeMs: Date.now() - started };
    if (code === 0) log.info(line, "exited");
    else log.error(line, "exited with an error");
  });
}

function drainMsOf(args: ParsedArgs): number {
  return durationFlag(args, "drain-timeout", "10s");
}

function durationFlag(args: ParsedArgs, name: "drain-timeout" | "upgrade-drain-timeout", fallback: string): number {
  try {
    return parseDuration(args.string(name) ?? fallback);
  } catch (error) {
    fail(`--${name}: ${(error as Error).message}`);
  }
}

function adminFlagsOf(args: ParsedArgs): AdminFlags {
  const flags: AdminFlags = {};
  const address = args.string("admin-address");
  const token = args.string("admin-token");
  const tlsCert = args.string("admin-tls-cert");
  const tlsKey = args.string("admin-tls-key");
  const hosts = args.strings("admin-host");
  if (hosts.length > 0) flags.hosts = hosts;
  if (address !== undefined) flags.address = address;
  if (token !== undefined) flags.token = token;
  if (tlsCert !== undefined) flags.tlsCert = tlsCert;
  if (tlsKey !== undefined) flags.tlsKey = tlsKey;
  return flags;
}

function adminOptionsOrExit(flags: AdminFlags, config: GatewayConfig): AdminServerOptions | "off" {
  try {
    return adminSettings(flags, config.gateway);
  } catch (error) {
    fail((error as Error).message);
  }
}

/** Starts serving (in this process, or in `workers` workers), or throws StartError saying why it cannot (exit 2). */
async function serve(config: GatewayConfig, options: ServeOptions, workers = 1): Promise<Serving> {
  // Cluster workers tune themselves (worker-main). The primary serves nothing but the admin API: cli.ts kept its young
  // generation small when `--workers` asked for workers; when the count came from the config it was tuned for serving
  // before that was known, and from here its young generation is no longer grown back after V8 shrinks it.
  if (workers > 1) {
    stopGrowingBack();
    return await serveCluster(config, { ...options, workers });
  }
  tuneProcessForServing();
  const serving = await serveInProcess(config, options);
  collectStartGarbage();
  return serving;
}

/** A listening address as a URL host: all interfaces becomes loopback, IPv6 goes in brackets. */
function urlHost(address: string): string {
  return address === "::" || address === "0.0.0.0" ? "127.0.0.1" : address.includes(":") ? `[${address}]` : address;
}

function connectUrl(address: string, port: number, path: string): string {
  return `ws://${urlHost(address)}:${port}${path}`;
}

export async function run(args: ParsedArgs): Promise<void> {
  // Started by `wsgate upgrade`: the process being replaced hears why this one could not start.
  const predecessor = Predecessor.fromEnvironment();
  try {
    await runServing(args, predecessor);
  } catch (error) {
    await predecessor?.failed(startFailureReport(error).trim());
    throw error;
  }
}

async function runServing(args: ParsedArgs, predecessor: Predecessor | undefined): Promise<void> {
  const log = serverLogger(args);
  const drainMs = drainMsOf(args);
  const upgradeDrainMs = durationFlag(args, "upgrade-drain-timeout", "5m");
  const { config, cluster, paths, stateFile } = await runConfig(args, log);
  const bindAddress = args.string("bind-address");
  let workers: number;
  try {
    workers = parseWorkerCount(args.string("workers") ?? config.gateway?.workers ?? 1);
  } catch (error) {
    fail(`--workers: ${(error as Error).message}`);
  }
  // Listening before the predecessor is asked for its sockets (receiveListeners below).
  const handles = predecessor !== undefined && workers > 1 ? new PredecessorHandles() : undefined;
  const serving = await serve(
    config,
    {
      log,
      drainMs,
      admin: adminOptionsOrExit(adminFlagsOf(args), config),
      gateway: bindAddress === undefined ? {} : { bindAddress },
      version: packageVersion(),
      ...(cluster === undefined ? { reload: { paths, watch: args.flag("watch"), stateFile } } : { cluster }),
      // In place upgrades: `wsgate run` from files, one process or workers (cluster members: not yet).
      ...(cluster === undefined ? { upgrade: { drainMs: upgradeDrainMs } } : {}),
      ...(predecessor === undefined ? {} : { predecessor: await receiveListeners(predecessor, log) }),
      // With workers: the predecessor's raw listening handles, which this primary's workers listen on.
      ...(handles === undefined ? {} : { sharedListeners: handles.shared() }),
    },
    workers,
  );
  logExit(log);
  if (predecessor !== undefined) await takeOver(predecessor, serving, log);
}

/** The predecessor's listening sockets, asked for once the config is loaded (one that does not load holds none). */
async function receiveListeners(predecessor: Predecessor, log: Logger): Promise<Predecessor> {
  const got = await predecessor.receiveListeners().catch((error: unknown) => {
    log.warn({ err: (error as Error).message }, "upgrade: no listening sockets from the process being replaced");
    return { sockets: 0, firstSessionId: 1 };
  });
  log.info({ event: "upgrade_listeners", from: predecessor.pid, ...got }, "upgrade: got the listening sockets");
  return predecessor;
}

/** Serving: says so to the predecessor, which stops accepting and hands its sessions over; then this one is alone. */
async function takeOver(predecessor: Predecessor, serving: Serving, log: Logger): Promise<void> {
  predecessor.closeUnused();
  // Listening for the sessions before saying so: the first one may follow at once.
  // With workers, the sessions are relayed to them instead (the old primary sums what its workers handed over).
  const relaying = serving.relaySessions?.();
  const taking = relaying === undefined ? serving.takeSessions?.(process as HandoverChannel) : undefined;
  await predecessor.running();
  if (taking !== undefined) await predecessor.took(await taking.done);
  const figures = await predecessor.done(UPGRADE_DONE_TIMEOUT_MS);
  taking?.stop();
  relaying?.stop();
  predecessor.release();
  log.info(
    { event: "upgrade_took_over", from: predecessor.pid, ...figures },
    figures === undefined
      ? `upgrade: PID ${predecessor.pid} went away before it said it had handed over; serving on`
      : `upgrade: took over from PID ${predecessor.pid}: ${figures.moved} sessions moved here, ${figures.kept} stay there`,
  );
}

/** How long a successor waits for its predecessor to hand the sessions over. */
const UPGRADE_DONE_TIMEOUT_MS = 300_000;

/** "" when the demo got the port it names, else why it moved, e.g. " (8080 is taken)". */
function moved(named: number, got: number): string {
  return named === got ? "" : ` (${named} is taken)`;
}

export async function demo(args: ParsedArgs): Promise<void> {
  const log = serverLogger(args);
  const drainMs = drainMsOf(args);
  const bindAddress = args.string("bind-address");
  let backends: EchoBackend[];
  let gatewayPort: number;
  try {
    gatewayPort = await demoGatewayPort(bindAddress ?? "127.0.0.1", args.string("port"));
    backends = await startDemoBackends();
  } catch (error) {
    throw new StartError(`cannot start the demo: ${(error as Error).message}`);
  }
  const result = await loadDemoConfig(`${packageRoot}examples/demo.yaml`, { gateway: gatewayPort, backends });
  if (!result.ok) {
    for (const error of result.errors) process.stderr.write(`${formatConfigError(error)}\n`);
    throw new StartError("the bundled examples/demo.yaml does not load");
  }
  const config = result.config;
  const flags = adminFlagsOf(args);
  const adminFlags =
    flags.address === undefined && config.gateway?.adminAddress === undefined
      ? { ...flags, address: await demoAdminAddress() }
      : flags;
  const admin = adminOptionsOrExit(adminFlags, config);
  const serving = await serve(config, {
    log,
    drainMs,
    admin,
    gateway: bindAddress === undefined ? {} : { bindAddress },
    version: packageVersion(),
    backends,
  });
  logExit(log);
  const adminAddress = serving.admin;
  const scheme = admin !== "off" && admin.tls !== undefined ? "https" : "http";
  const adminUrl =
    adminAddress === undefined ? "" : `${scheme}://${urlHost(adminAddress.address)}:${adminAddress.port}`;
  const urls = serving.listening.flatMap((listener) =>
    listener.paths.map((path) => connectUrl(listener.address.address, listener.address.port, path)),
  );
  const echo = backends
    .map((backend, index) => `127.0.0.1:${backend.port}${moved(DEMO_BACKEND_PORTS[index] ?? 0, backend.port)}`)
    .join(", ");
  const gatewayMoved = args.string("port") === undefined ? moved(DEMO_GATEWAY_PORT, gatewayPort) : "";
  process.stderr.write(
    `\nwsgate demo is running: two echo backends (${echo}) behind the gateway${gatewayMoved}.\n` +
      `Connect a WebSocket client to:\n${urls.map((url) => `  ${url}\n`).join("")}` +
      `e.g.  node -e "const ws=new (require('ws'))('${urls[0] ?? ""}');ws.on('open',()=>ws.send('hello'));ws.on('message',m=>{console.log(String(m));ws.close()})"\n` +
      (adminUrl === ""
        ? ""
        : `Admin API: ${adminUrl}/apis/v2/objects  (try: wsgate get --server ${adminUrl}, wsgate sessions --server ${adminUrl})\n` +
          `Dashboard: ${adminUrl}/dashboard\n`) +
      `Press Ctrl+C to stop.\n\n`,
  );
}

export function validate(args: ParsedArgs): Promise<void> {
  const paths = [...args.strings("config"), ...args.positionals];
  if (paths.length === 0) throw new UsageError("validate needs a FILE or DIR (wsgate validate --help)");
  return loadOrExit(paths, adminValidation(args.string("admin-address")), printWarnings).then(
    () => void process.stdout.write(`${paths.join(", ")}: valid\n`),
  );
}

export function schema(): void {
  process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
}
