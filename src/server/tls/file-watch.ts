import { watch, realpathSync, type FSWatcher } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Logger } from "../../observability/logger.js";

/**
 * Calls `onChange` shortly after anything changes in the directories of `files` (and of the files their symlinks
 * point to). Directories rather than files are watched, so that the usual ways of replacing a certificate are all
 * seen: writing in place, renaming a new file over the old one, and swapping a symlink (Kubernetes secrets, certbot).
 * Events are coalesced for `settleMs`; the caller compares contents to tell real changes from noise.
 */
export class DirectoryWatch {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    files: readonly string[],
    private readonly onChange: () => void,
    log: Logger,
    private readonly settleMs = 150,
  ) {
    const dirs = new Set<string>();
    for (const file of files) {
      dirs.add(dirname(resolve(file)));
      try {
        dirs.add(dirname(realpathSync(file)));
      } catch {
        // The file is checked when loaded; a missing target here only means one directory fewer to watch.
      }
    }
    for (const dir of dirs) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.changed());
        watcher.on("error", (error: Error) => {
          log.warn({ dir, err: error.message }, "stopped watching a certificate directory: changes there are not seen");
          watcher.close();
        });
        this.watchers.push(watcher);
      } catch (error) {
        log.warn(
          { dir, err: (error as Error).message },
          "cannot watch a certificate directory: changes there are not seen",
        );
      }
    }
  }

  private changed(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onChange(), this.settleMs);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
    this.watchers.length = 0;
  }
}
