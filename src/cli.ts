#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseDuration } from "./config/duration.js";
import { formatConfigError } from "./config/errors.js";
import { loadConfig, type GatewayConfig } from "./config/load.js";
import { configJsonSchema } from "./config/reference-doc.js";
import { startEchoBackend, type EchoBackend } from "./demo/echo-backend.js";
import { Gateway } from "./gateway.js";
import { runCluster } from "./cluster/run-cluster.js";
import { parseWorkerCount } from "./cluster/worker-count.js";
import { LOG_LEVELS, createLogger, type LogLevel } from "./observability/logger.js";

const USAGE = `wsgate: a WebSocket-aware reverse proxy and gateway

Usage:
  wsgate run --config FILE|DIR [--config ...] [--log-level LEVEL] [--drain-timeout DURATION] [--workers N|auto]
  wsgate validate --config FILE|DIR [--config ...]
  wsgate demo [--log-level LEVEL]
  wsgate schema
  wsgate --help | --version

  run       serve the objects (HTTPServer, Pipeline) in the config files
  validate  check config files; exit 0 when valid, else print each error with file:line and exit 1
  demo      start two echo backends and the gateway on the bundled example (examples/demo.yaml)
  schema    print the JSON Schema of the configuration objects, for editors

Options:
  --config, -c     a YAML file (objects separated by ---) or a directory of .yaml/.yml files; repeatable
  --log-level      ${LOG_LEVELS.join(", ")} (default info)
  --drain-timeout  on SIGTERM/SIGINT, how long live sessions get to close (default 10s)
  --workers        run: worker processes sharing the listeners, or auto (one per core); default 1 (no cluster)
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
        workers: { type: "string", default: "1" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`);
  }
}

async function loadOrExit(paths: string[]): Promise<GatewayConfig> {
  if (paths.length === 0) fail("--config is required");
  const result = await loadConfig(paths);
  if (result.ok) return result.config;
  for (const error of result.errors) process.stderr.write(`${formatConfigError(error)}\n`);
  process.stderr.write(`wsgate: ${result.errors.length} configuration error(s)\n`);
  process.exit(1);
}

function logLevelOf(text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text))
    fail(`unknown log level '${text}' (expected one of ${LOG_LEVELS.join(", ")})`);
  return text as LogLevel;
}

/** Runs the gateway until SIGTERM or SIGINT, then drains and exits 0. */
async function serve(
  config: GatewayConfig,
  level: LogLevel,
  drainMs: number,
  backends: EchoBackend[] = [],
): Promise<Gateway> {
  const log = createLogger(level);
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(config, log);
  } catch (error) {
    await Promise.all(backends.map((backend) => backend.close()));
    fail((error as Error).message);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, sessions: gateway.sessions.size }, "stopping: closing sessions with 1001");
    void gateway
      .stop(drainMs)
      .then(() => Promise.all(backends.map((backend) => backend.close())))
      .then(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  for (const listener of gateway.listening) {
    log.info({ server: listener.server, port: listener.address.port, address: listener.address.address }, "listening");
  }
  return gateway;
}

function connectUrl(address: string, port: number, path: string): string {
  const host =
    address === "::" || address === "0.0.0.0" ? "127.0.0.1" : address.includes(":") ? `[${address}]` : address;
  return `ws://${host}:${port}${path}`;
}

async function demo(level: LogLevel, drainMs: number): Promise<void> {
  const config = await loadOrExit([`${packageRoot}examples/demo.yaml`]);
  const backends: EchoBackend[] = [];
  try {
    for (const [index, port] of [9095, 9096].entries())
      backends.push(await startEchoBackend(`echo-${index + 1}`, port));
  } catch (error) {
    fail(`cannot start the demo's echo backends on 127.0.0.1:9095 and :9096: ${(error as Error).message}`);
  }
  const gateway = await serve(config, level, drainMs, backends);
  const urls = gateway.listening.flatMap((listener) =>
    listener.paths.map((path) => connectUrl(listener.address.address, listener.address.port, path)),
  );
  process.stderr.write(
    `\nwsgate demo is running: two echo backends (127.0.0.1:9095, 127.0.0.1:9096) behind the gateway.\n` +
      `Connect a WebSocket client to:\n${urls.map((url) => `  ${url}\n`).join("")}` +
      `e.g.  node -e "const ws=new (require('ws'))('${urls[0] ?? ""}');ws.on('open',()=>ws.send('hello'));ws.on('message',m=>{console.log(String(m));ws.close()})"\n` +
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
    const pkg = JSON.parse(readFileSync(`${packageRoot}package.json`, "utf8")) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return;
  }
  const { values } = parseOptions(rest);
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const level = logLevelOf(values["log-level"]);
  let drainMs: number;
  try {
    drainMs = parseDuration(values["drain-timeout"]);
  } catch (error) {
    fail(`--drain-timeout: ${(error as Error).message}`);
  }
  switch (command) {
    case "run": {
      const config = await loadOrExit(values.config ?? []);
      // ---- cluster (issue 6): `--workers N|auto` with N > 1 runs the gateway in N workers behind a primary ----
      let workers: number;
      try {
        workers = parseWorkerCount(values.workers);
      } catch (error) {
        fail(`--workers: ${(error as Error).message}`);
      }
      if (workers > 1) {
        await runCluster({ workers, objects: config.objects, log: createLogger(level), drainMs }).catch(
          (error: unknown) => fail((error as Error).message),
        );
        return;
      }
      // ---- end cluster ----
      await serve(config, level, drainMs);
      return;
    }
    case "validate": {
      const paths = values.config ?? [];
      await loadOrExit(paths);
      process.stdout.write(`${paths.join(", ")}: valid\n`);
      return;
    }
    case "demo":
      await demo(level, drainMs);
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
