#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseDuration } from "./config/duration.js";
import { formatConfigError } from "./config/errors.js";
import { loadConfig, type GatewayConfig } from "./config/load.js";
import { configJsonSchema } from "./config/reference-doc.js";
import { startEchoBackend, type EchoBackend } from "./demo/echo-backend.js";
import { DEFAULT_ADMIN_ADDRESS } from "./admin/address.js";
import type { AdminServerOptions } from "./admin/server.js";
import { DEFAULT_SERVER } from "./cli/admin-client.js";
import { adminSettings, adminValidation, type AdminFlags } from "./cli/admin-settings.js";
import type { ValidationOptions } from "./config/admin-targets.js";
import { isAdminVerb, runAdminVerb } from "./cli/run-verb.js";
import {
  serveCluster,
  serveInProcess,
  StartError,
  type ClusterServe,
  type ServeOptions,
  type Serving,
} from "./cli/serve.js";
import { ClusterObjectsInvalidError, chooseStore, openClusterStore, StoreFlagsError } from "./cli/store-choice.js";
import { SeedInvalidError } from "./control/seed.js";
import { ObjectStoreError, StoreStartTimeoutError } from "./errors.js";
import { parseWorkerCount } from "./cluster/worker-count.js";
import { LOG_LEVELS, createLogger, type LogLevel } from "./observability/logger.js";
import { tuneProcessForServing } from "./process-tuning.js";

const USAGE = `wsgate: a WebSocket-aware reverse proxy and gateway

Usage:
  wsgate run --config FILE|DIR [--config ...] [--watch] [--bind-address ADDR] [--workers N|auto]
             [--log-level LEVEL] [--drain-timeout DURATION] [ADMIN OPTIONS]
  wsgate run --store etcd://HOST:2379[,HOST:2379...] [--cluster-name NAME] [--config FILE|DIR --seed]
             [--store-start-timeout DURATION] [--member-ttl DURATION] [--bind-address ADDR] [...]
  wsgate validate --config FILE|DIR [--config ...]
  wsgate demo [--log-level LEVEL]
  wsgate schema
  wsgate apply -f FILE             [--server URL] [--token TOKEN] [-o json|yaml]
  wsgate get [KIND|NAME]           (same options)
  wsgate describe NAME
  wsgate delete NAME
  wsgate sessions [--cluster]
  wsgate members
  wsgate --help | --version

  run       serve the objects (Gateway, HTTPServer, Pipeline) in the config files, with the admin API
  validate  check config files; exit 0 when valid, else print each error with file:line and exit 1
  demo      start two echo backends and the gateway on the bundled example (examples/demo.yaml)
  schema    print the JSON Schema of the configuration objects, for editors
  apply     create each object of FILE on a running gateway, or update it when its name exists
  get       list objects (all, of one kind, or one by name) with their status
  describe  one object as written, and its status (listeners, pools and servers, sessions)
  delete    delete one object
  sessions  live WebSocket sessions: route, backend, client, age, messages/bytes in and out;
            --cluster (or --all-members): of every member of the cluster, via their admin APIs
  members   the members of the cluster (run --store): id, address, admin API, sessions, age, version

Options:
  --config, -c     a YAML file (objects separated by ---) or a directory of .yaml/.yml files; repeatable
  --log-level      ${LOG_LEVELS.join(", ")} (default info)
  --drain-timeout  on SIGTERM/SIGINT, how long live sessions get to close (default 10s)
  --watch          run: reload the config files when they change (SIGHUP always reloads them)
  --bind-address   run: listen on this address for every HTTPServer, whatever its address field says
  --workers        run: worker processes sharing the listeners, or auto (one per core); default 1 (no cluster),
                   or the Gateway object's workers

Cluster options of run (objects in etcd, shared by every member; without --store the files are the objects):
  --store          etcd://HOST:2379[,HOST:2379...]: serve the cluster's objects, register as a member
  --cluster-name   the cluster's name: its keys live under /wsgate/NAME/ (default default)
  --seed           write the --config files' objects into the cluster (create or update, validated) before serving;
                   without --seed a member takes the cluster's objects as they are and needs no --config
  --store-start-timeout  how long to wait for an unreachable etcd at start before exiting 1 (default 30s)
  --member-ttl     lease TTL of this member's entry: a dead member disappears after it (default 10s)

Admin options of run (they override the Gateway object):
  --admin-address  HOST:PORT of the admin API, or off (default ${DEFAULT_ADMIN_ADDRESS}); only loopback without a token
  --admin-token    bearer token the admin API requires (at least 16 characters; or WSGATE_ADMIN_TOKEN)
  --admin-tls-cert, --admin-tls-key  serve the admin API over HTTPS with this PEM certificate and key
  --admin-host     NAME or NAME:PORT the admin API also answers to in Host (repeatable); others get 421

Options of apply, get, describe, delete, sessions, members:
  --server         the admin API (default ${DEFAULT_SERVER}); https:// trusts the CAs in NODE_EXTRA_CA_CERTS
  --token          bearer token (default: WSGATE_ADMIN_TOKEN)
  --output, -o     table (default), json or yaml
  --filename, -f   the file apply reads
`;

const packageRoot = fileURLToPath(new URL("../../", import.meta.url));

function fail(message: string): never {
  process.stderr.write(`wsgate: ${message}\n`);
  process.exit(2);
}

function parseOptions(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c", multiple: true },
        "log-level": { type: "string", default: "info" },
        "drain-timeout": { type: "string", default: "10s" },
        watch: { type: "boolean", default: false },
        "bind-address": { type: "string" },
        workers: { type: "string" },
        "admin-address": { type: "string" },
        "admin-token": { type: "string" },
        "admin-host": { type: "string", multiple: true },
        "admin-tls-cert": { type: "string" },
        "admin-tls-key": { type: "string" },
        server: { type: "string" },
        token: { type: "string" },
        output: { type: "string", short: "o", default: "table" },
        filename: { type: "string", short: "f" },
        store: { type: "string" },
        "cluster-name": { type: "string" },
        seed: { type: "boolean", default: false },
        "store-start-timeout": { type: "string" },
        "member-ttl": { type: "string" },
        cluster: { type: "boolean", default: false },
        "all-members": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`);
  }
}

async function loadOrExit(paths: string[], options: ValidationOptions = {}): Promise<GatewayConfig> {
  if (paths.length === 0) fail("--config is required");
  const result = await loadConfig(paths, options);
  if (result.ok) return result.config;
  for (const error of result.errors) process.stderr.write(`${formatConfigError(error)}\n`);
  process.stderr.write(`wsgate: ${result.errors.length} configuration error(s)\n`);
  process.exit(1);
}

/** The cluster store could not be opened or seeded: say why and exit 1 (a supervisor may try again later). */
function startFailed(message: string): never {
  process.stderr.write(`wsgate: ${message}\n`);
  process.exit(1);
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(`${packageRoot}package.json`, "utf8")) as { version: string }).version;
}

/**
 * Where `wsgate run` takes its objects from: the files, or the cluster (opened, seeded with `--seed`, validated).
 * Exits 2 on flags that do not go together, 1 when the store cannot be opened or holds objects that do not load.
 */
async function runConfig(
  values: StoreFlagValues,
  log: ReturnType<typeof createLogger>,
): Promise<{ config: GatewayConfig; cluster?: ClusterServe; paths: string[] }> {
  let choice;
  try {
    choice = chooseStore({
      store: values.store,
      clusterName: values["cluster-name"],
      seed: values.seed,
      storeStartTimeout: values["store-start-timeout"],
      memberTtl: values["member-ttl"],
      config: values.config ?? [],
      watch: values.watch,
    });
  } catch (error) {
    if (error instanceof StoreFlagsError) fail(error.message);
    throw error;
  }
  const validation = adminValidation(values["admin-address"]);
  if (choice.kind === "files") return { config: await loadOrExit(choice.paths, validation), paths: choice.paths };
  const seed = choice.seedPaths.length > 0 ? await loadOrExit(choice.seedPaths, validation) : undefined;
  try {
    const { store, config } = await openClusterStore(choice, log, seed);
    const cluster: ClusterServe = {
      store,
      name: choice.cluster,
      memberTtlSeconds: choice.memberTtlSeconds,
      version: packageVersion(),
    };
    return { config, cluster, paths: [] };
  } catch (error) {
    if (
      error instanceof StoreStartTimeoutError ||
      error instanceof SeedInvalidError ||
      error instanceof ClusterObjectsInvalidError ||
      error instanceof ObjectStoreError
    ) {
      startFailed(error.message);
    }
    throw error;
  }
}

interface StoreFlagValues {
  "admin-address"?: string | undefined;
  store?: string | undefined;
  "cluster-name"?: string | undefined;
  seed?: boolean | undefined;
  "store-start-timeout"?: string | undefined;
  "member-ttl"?: string | undefined;
  config?: string[] | undefined;
  watch?: boolean | undefined;
}

function logLevelOf(text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text))
    fail(`unknown log level '${text}' (expected one of ${LOG_LEVELS.join(", ")})`);
  return text as LogLevel;
}

function adminOptionsOrExit(flags: AdminFlags, config: GatewayConfig): AdminServerOptions | "off" {
  try {
    return adminSettings(flags, config.gateway);
  } catch (error) {
    fail((error as Error).message);
  }
}

/** Starts serving (in this process, or in `workers` workers), or prints why it cannot and exits 2. */
async function serve(config: GatewayConfig, options: ServeOptions, workers = 1): Promise<Serving> {
  // Cluster workers tune themselves (worker-main); the primary then serves nothing but the admin API.
  tuneProcessForServing();
  try {
    return workers > 1 ? await serveCluster(config, { ...options, workers }) : await serveInProcess(config, options);
  } catch (error) {
    if (error instanceof StartError) fail(error.message);
    throw error;
  }
}

/** A listening address as a URL host: all interfaces becomes loopback, IPv6 goes in brackets. */
function urlHost(address: string): string {
  return address === "::" || address === "0.0.0.0" ? "127.0.0.1" : address.includes(":") ? `[${address}]` : address;
}

function connectUrl(address: string, port: number, path: string): string {
  return `ws://${urlHost(address)}:${port}${path}`;
}

async function demo(level: LogLevel, drainMs: number, flags: AdminFlags): Promise<void> {
  const config = await loadOrExit([`${packageRoot}examples/demo.yaml`], adminValidation(flags.address));
  const admin = adminOptionsOrExit(flags, config);
  const backends: EchoBackend[] = [];
  try {
    for (const [index, port] of [9095, 9096].entries())
      backends.push(await startEchoBackend(`echo-${index + 1}`, port));
  } catch (error) {
    fail(`cannot start the demo's echo backends on 127.0.0.1:9095 and :9096: ${(error as Error).message}`);
  }
  const serving = await serve(config, { log: createLogger(level), drainMs, admin, gateway: {}, backends });
  const adminAddress = serving.admin;
  const scheme = admin !== "off" && admin.tls !== undefined ? "https" : "http";
  const adminUrl =
    adminAddress === undefined ? "" : `${scheme}://${urlHost(adminAddress.address)}:${adminAddress.port}`;
  const urls = serving.listening.flatMap((listener) =>
    listener.paths.map((path) => connectUrl(listener.address.address, listener.address.port, path)),
  );
  process.stderr.write(
    `\nwsgate demo is running: two echo backends (127.0.0.1:9095, 127.0.0.1:9096) behind the gateway.\n` +
      `Connect a WebSocket client to:\n${urls.map((url) => `  ${url}\n`).join("")}` +
      `e.g.  node -e "const ws=new (require('ws'))('${urls[0] ?? ""}');ws.on('open',()=>ws.send('hello'));ws.on('message',m=>{console.log(String(m));ws.close()})"\n` +
      (adminUrl === ""
        ? ""
        : `Admin API: ${adminUrl}/apis/v2/objects  (try: wsgate get, wsgate sessions --server ${adminUrl})\n`) +
      `Press Ctrl+C to stop.\n\n`,
  );
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return;
  }
  if (command === "--version" || command === "-v" || command === "version") {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  const { values, positionals } = parseOptions(rest);
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (isAdminVerb(command)) {
    process.exitCode = await runAdminVerb(command, positionals, values);
    return;
  }
  const adminFlags: AdminFlags = {
    ...(values["admin-address"] === undefined ? {} : { address: values["admin-address"] }),
    ...(values["admin-token"] === undefined ? {} : { token: values["admin-token"] }),
    ...(values["admin-tls-cert"] === undefined ? {} : { tlsCert: values["admin-tls-cert"] }),
    ...(values["admin-tls-key"] === undefined ? {} : { tlsKey: values["admin-tls-key"] }),
    ...(values["admin-host"] === undefined ? {} : { hosts: values["admin-host"] }),
  };
  const level = logLevelOf(values["log-level"]);
  let drainMs: number;
  try {
    drainMs = parseDuration(values["drain-timeout"]);
  } catch (error) {
    fail(`--drain-timeout: ${(error as Error).message}`);
  }
  switch (command) {
    case "run": {
      const log = createLogger(level);
      const { config, cluster, paths } = await runConfig(values, log);
      const bindAddress = values["bind-address"];
      let workers: number;
      try {
        workers = parseWorkerCount(values.workers ?? config.gateway?.workers ?? 1);
      } catch (error) {
        fail(`--workers: ${(error as Error).message}`);
      }
      await serve(
        config,
        {
          log,
          drainMs,
          admin: adminOptionsOrExit(adminFlags, config),
          gateway: bindAddress === undefined ? {} : { bindAddress },
          ...(cluster === undefined ? { reload: { paths, watch: values.watch } } : { cluster }),
        },
        workers,
      );
      return;
    }
    case "validate": {
      const paths = values.config ?? [];
      await loadOrExit(paths, adminValidation(values["admin-address"]));
      process.stdout.write(`${paths.join(", ")}: valid\n`);
      return;
    }
    case "demo":
      await demo(level, drainMs, adminFlags);
      return;
    case "schema":
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
      return;
    default:
      fail(`unknown command '${command}'\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`wsgate: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
