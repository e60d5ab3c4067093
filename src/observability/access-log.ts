// Access logs: a dedicated stream of JSON lines per HTTPServer that has an `accessLog` block, apart from the main
// log. Each Gateway has its own registry (no process-wide one): a target (stdout, stderr, a file) is opened once per
// registry and shared by the servers that name it; files are appended to asynchronously and reopened on SIGUSR1 (or
// `reopen()`), for logrotate.
import { pino } from "pino";
import type { AccessLogField, AccessLogSpec } from "./access-log-spec.js";

/** What one access line can say; each writer keeps the fields its config lists. */
export type AccessEntry = Partial<Record<AccessLogField, string | number>>;

type Destination = ReturnType<typeof pino.destination>;

interface Target {
  destination: Destination;
  file: boolean;
}

/** One HTTPServer's access log: its fields, in order, on its target. */
export class AccessLog {
  constructor(
    private readonly fields: readonly AccessLogField[],
    private readonly destination: Pick<Destination, "write">,
  ) {}

  write(entry: AccessEntry): void {
    const line: Record<string, string | number> = {};
    for (const field of this.fields) {
      const value = field === "time" ? new Date().toISOString() : entry[field];
      if (value !== undefined) line[field] = value;
    }
    // Written as is, not through a pino logger: a line holds the configured fields and nothing else.
    this.destination.write(`${JSON.stringify(line)}\n`);
  }
}

function openTarget(target: string): Target {
  const file = target !== "stdout" && target !== "stderr";
  // Standard streams are written synchronously: the main log shares stdout, and whole lines must not interleave.
  const destination = file
    ? pino.destination({ dest: target, append: true, mkdir: true, sync: false })
    : pino.destination({ dest: target === "stdout" ? 1 : 2, sync: true });
  return { destination, file };
}

/** One gateway's access logs, by HTTPServer name, and the targets they write to. */
export class AccessLogRegistry {
  readonly #byServer = new Map<string, AccessLog>();
  readonly #targets = new Map<string, Target>();
  /** Installed once some file target is opened; removed by `close`. */
  #onSignal: (() => void) | undefined;

  /** Sets (or, with no spec, removes) a server's access log; requests already running keep the one they started with. */
  configure(server: string, spec: AccessLogSpec | undefined): void {
    if (spec === undefined) {
      this.#byServer.delete(server);
      return;
    }
    this.#byServer.set(server, new AccessLog(spec.fields, this.#target(spec.target).destination));
  }

  for(server: string): AccessLog | undefined {
    return this.#byServer.get(server);
  }

  /** Reopens every file target: after logrotate moved the files away. */
  reopen(): void {
    for (const target of this.#targets.values()) if (target.file) target.destination.reopen();
  }

  /** Writes out what file targets still buffer, e.g. before a test reads the files. */
  flush(): void {
    for (const target of this.#targets.values()) {
      try {
        if (target.file) target.destination.flushSync();
      } catch {
        // Not open yet: nothing was written to it either.
      }
    }
  }

  /**
   * The gateway is gone: writes out what files still buffer and stops listening for SIGUSR1. The files stay open, so
   * that a line written late (a session's end) is not lost.
   */
  close(): void {
    this.flush();
    if (this.#onSignal !== undefined) process.off("SIGUSR1", this.#onSignal);
    this.#onSignal = undefined;
  }

  #target(path: string): Target {
    let target = this.#targets.get(path);
    if (target === undefined) {
      target = openTarget(path);
      this.#targets.set(path, target);
      if (target.file && this.#onSignal === undefined) {
        // The logrotate convention; installed only once some file is written, so processes without one keep Node's
        // default SIGUSR1 behaviour.
        this.#onSignal = () => this.reopen();
        process.on("SIGUSR1", this.#onSignal);
      }
    }
    return target;
  }
}
