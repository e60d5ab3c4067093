// The script node:cluster forks for each worker (the primary points `exec` here), so the CLI never has to tell a
// worker from a primary. Arguments: --log-level LEVEL --drain-ms N [--bind-address ADDR] [--build-version V].
import cluster from "node:cluster";
import { parseArgs } from "node:util";
import { LOG_LEVELS, createLogger, type LogLevel } from "../observability/logger.js";
import { tuneProcessForServing } from "../process-tuning.js";

if (!cluster.isWorker) {
  process.stderr.write("wsgate: worker-main is started by `wsgate run --workers N`, not directly\n");
  process.exit(2);
}
// Before the gateway's modules are loaded (imported below, not statically): the young-generation cap holds only if
// applied first.
tuneProcessForServing();
const { createGatewayTelemetry } = await import("../gateway.js");
const { runWorker } = await import("./worker.js");
const { values } = parseArgs({
  options: {
    "log-level": { type: "string", default: "info" },
    "drain-ms": { type: "string", default: "10000" },
    "bind-address": { type: "string" },
    "build-version": { type: "string", default: "unknown" },
  },
});
const level = (LOG_LEVELS as readonly string[]).includes(values["log-level"])
  ? (values["log-level"] as LogLevel)
  : "info";
runWorker({
  log: createLogger(level).child({ worker: cluster.worker?.id }),
  drainMs: Number(values["drain-ms"]),
  gateway: {
    ...(values["bind-address"] === undefined ? {} : { bindAddress: values["bind-address"] }),
    // The worker's process metrics and build, with its gateway's traffic: the primary adds them up.
    telemetry: createGatewayTelemetry({ build: { version: values["build-version"] } }),
  },
});
