// Reloading the config files of `wsgate run`: on change (`--watch`) and on SIGHUP. A file set that does not validate
// is rejected as a whole with its errors logged; the running config stays. Every outcome is logged once, and no
// reload error can end the process.
import type { ReloadResult } from "../observability/metrics.js";
import { watch, statSync, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { ValidationOptions } from "../config/admin-targets.js";
import { formatConfigError, formatConfigWarning, loadConfig, type GatewayConfig } from "../config/load.js";
import type { ApplySummary } from "../gateway.js";
import type { Logger } from "../observability/logger.js";

/** Events from editors and deploy tools come in bursts (write, rename, chmod): one reload per burst. */
const SETTLE_MS = 200;

/**
 * Calls `onChange` once shortly after the given config files or directories change. A file's directory is watched
 * rather than the file, so that saves that rename a new file over the old one are seen as well as writes in place.
 * Returns a function that stops watching.
 */
export function watchConfigFiles(
  paths: readonly string[],
  onChange: () => void,
  onError: (path: string, error: Error) => void = () => {},
): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const changed = (): void => {
    clearTimeout(timer);
    timer = setTimeout(onChange, SETTLE_MS);
  };
  for (const path of paths) {
    const full = resolve(path);
    let isDirectory = false;
    try {
      isDirectory = statSync(full).isDirectory();
    } catch {
      // A missing file may appear later: its directory is watched for it.
    }
    const dir = isDirectory ? full : dirname(full);
    const name = isDirectory ? undefined : basename(full);
    try {
      const watcher = watch(dir, { persistent: false }, (_event, file) => {
        // In a directory of configs every file counts; otherwise only the named file (null: the OS did not say).
        if (name === undefined || file === null || file === name) changed();
      });
      watcher.on("error", (error: Error) => {
        onError(dir, error);
        watcher.close();
      });
      watchers.push(watcher);
    } catch (error) {
      onError(dir, error as Error);
    }
  }
  return () => {
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
}

/** What a reload applies to: the gateway itself, or later the admin API's object store. */
export type ApplyConfig = (config: GatewayConfig) => Promise<ApplySummary | void>;

/** Where a reload's outcome is counted: the gateway's metrics (the cluster primary's own in a cluster). */
export interface ReloadCounter {
  configReloaded(result: ReloadResult): void;
}

/**
 * A function that reloads `paths` and applies the result, naming `trigger` in the log, and counts it in `reloads`. Reloads run one at a time; a
 * trigger during a reload makes one more reload afterwards (the files may have changed again), never a pile of them.
 */
export function fileReloader(
  paths: readonly string[],
  apply: ApplyConfig,
  log: Logger,
  reloads: ReloadCounter,
  validation: () => ValidationOptions = () => ({}),
): (trigger: string) => Promise<void> {
  let running: Promise<void> | undefined;
  let again: string | undefined;
  const reload = async (trigger: string): Promise<void> => {
    const result = await loadConfig(paths, validation());
    if (!result.ok) {
      const errors = result.errors.map(formatConfigError);
      log.error(
        { event: "config_rejected", trigger, files: paths, errors },
        `config rejected: ${errors.length} error(s); the running config stays`,
      );
      // One line per error as well, readable as is: `file:line object path: message`.
      for (const error of errors) log.error({ event: "config_error", trigger }, error);
      reloads.configReloaded("rejected");
      return;
    }
    // Warnings do not stop a reload; they are logged with each one, as at start, until the files change.
    for (const warning of result.warnings) {
      log.warn({ event: "config_warning", trigger }, formatConfigWarning(warning));
    }
    try {
      const summary = await apply(result.config);
      log.info({ event: "config_applied", trigger, files: paths, ...summary }, "config applied");
      reloads.configReloaded("applied");
    } catch (error) {
      reloads.configReloaded("rejected");
      log.error(
        { event: "config_rejected", trigger, files: paths, errors: [(error as Error).message] },
        "config rejected: cannot apply it; the running config stays",
      );
    }
  };
  const next = (trigger: string): Promise<void> => {
    if (running !== undefined) {
      again = trigger;
      return running;
    }
    running = reload(trigger)
      .catch((error: unknown) => log.error({ err: error, trigger }, "config reload failed"))
      .finally(() => {
        running = undefined;
        const pending = again;
        again = undefined;
        if (pending !== undefined) void next(pending);
      });
    return running;
  };
  return next;
}
