import { startupError } from "../errors.js";

/** `--workers` (or a Gateway object's `workers`) is neither a positive whole number nor "auto". */
export class InvalidWorkerCountError extends Error {
  constructor(text: string) {
    super(`workers must be a positive whole number or "auto", not '${text}'`);
    this.name = "InvalidWorkerCountError";
  }
}

/** The workers could not run the first config (e.g. its port is taken): the cluster does not start. */
export class ClusterStartError extends startupError("WSG_CLUSTER_START_FAILED") {
  constructor(reason: string) {
    super(reason);
    this.name = "ClusterStartError";
  }
}
