// Builds of wsgate on disk for upgrade tests: copies of this checkout's dist/src (and dist/dashboard) with a
// package.json of their own, under one temp directory, and a `current` symlink the gateway is started through. An
// upgrade starts the new process from `current/dist/src/cli.js` as the old one was started (Node does not resolve
// the symlink in process.argv[1]), so re-pointing `current` is a deploy, as with capistrano-style releases; the old
// process keeps the modules it loaded from its own release.
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { withTimeout } from "./net.js";

/** This checkout: dist/test/helpers/ is three levels below it. */
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export class CopiedBuilds {
  private constructor(readonly dir: string) {}

  /** A temp directory with no release yet; `release` adds them, `deploy` points `current` at one. */
  static create(): CopiedBuilds {
    return new CopiedBuilds(mkdtempSync(join(tmpdir(), "wsgate-releases-")));
  }

  /** The CLI as a service manager would run it: through the `current` symlink. */
  get cli(): string {
    return join(this.dir, "current", "dist", "src", "cli.js");
  }

  /**
   * A copy of this checkout's build as release `name`, reporting `version`. `cliScript` replaces dist/src/cli.js
   * (a build that cannot start, for instance).
   */
  release(name: string, version: string, cliScript?: string): string {
    const at = join(this.dir, name);
    mkdirSync(join(at, "dist"), { recursive: true });
    cpSync(join(ROOT, "dist", "src"), join(at, "dist", "src"), { recursive: true });
    if (existsSync(join(ROOT, "dist", "dashboard")))
      cpSync(join(ROOT, "dist", "dashboard"), join(at, "dist", "dashboard"), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(at, "package.json"), JSON.stringify({ ...manifest, version }, null, 2));
    symlinkSync(join(ROOT, "node_modules"), join(at, "node_modules"));
    if (cliScript !== undefined) writeFileSync(join(at, "dist", "src", "cli.js"), cliScript);
    return at;
  }

  /** Points `current` at release `name` in one rename, as a deploy does. */
  deploy(name: string): void {
    const next = join(this.dir, "current.next");
    rmSync(next, { force: true });
    symlinkSync(join(this.dir, name), next);
    renameSync(next, join(this.dir, "current"));
  }

  /**
   * Every process running a release of this directory (the gateway an upgrade started, and its successors), by its
   * command line in /proc: stopped, so that none outlives the test even when the test lost track of its PID.
   */
  async stopAll(): Promise<void> {
    const mine = readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number)
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(this.dir);
        } catch {
          return false;
        }
      });
    await Promise.all(mine.map((pid) => stopPid(pid)));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether a process of that id exists (a zombie counts: its parent has not reaped it yet). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `pid` is gone, polling; rejects after `ms`. */
export function exitOf(pid: number, ms: number): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      const poll = (): void => {
        if (!alive(pid)) resolve();
        else setTimeout(poll, 25);
      };
      poll();
    }),
    ms,
    `process ${pid} to exit`,
  );
}

/**
 * Stops a gateway this test did not start itself (the process an upgrade started): SIGTERM, then SIGKILL if it is
 * still there after `ms`.
 */
export async function stopPid(pid: number, ms = 15_000): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  await exitOf(pid, ms).catch(() => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  });
}
