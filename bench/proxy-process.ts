/**
 * A proxy under test as a child process: started from its filled-in config (targets.ts), watched until it
 * accepts connections, its output counted (anything it logs at warn or above is an anomaly), its CPU and RSS read
 * from /proc over its whole process tree, and stopped by PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { freePort } from "../test/helpers/net.js";
import { cpuTicks, processTree, rssKiB, sumOver } from "./proc.js";
import { addTally, type Tally } from "./protocol.js";
import { BENCH_ADMIN_TOKEN } from "./dashboard-load.js";
import { hasAdmin, prepareProxy, stopGraceMs, type ProxyName, type TlsFiles } from "./targets.js";

/** How long a proxy may take to accept its first connection: a cluster's primary and workers, on a loaded machine. */
const START_LIMIT_MS = 30_000;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true when `promise` settles within `ms`, false otherwise; leaves no timer behind either way. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Stops a child by its PID with SIGTERM; SIGKILL when it is still there after `graceMs`. Returns how long it took. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<{ ms: number; killed: boolean }> {
  const started = performance.now();
  if (child.exitCode !== null || child.signalCode !== null) return { ms: 0, killed: false };
  child.kill("SIGTERM");
  const inTime = await within(exited(child), graceMs);
  if (!inTime) {
    child.kill("SIGKILL");
    await within(exited(child), 2000);
  }
  return { ms: performance.now() - started, killed: !inTime };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.setTimeout(500);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

const PINO_LEVELS: Record<number, string> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

/** A short kind for an output line: pino's level and message (and code), or the start of a plain line. */
function kindOfLogLine(line: string): string {
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    // wsgate logs level names; other pino programs (and older wsgate) log numbers.
    const raw = entry["level"];
    const level = typeof raw === "number" ? (PINO_LEVELS[raw] ?? String(raw)) : typeof raw === "string" ? raw : "?";
    const code = typeof entry["code"] === "string" ? ` (${entry["code"]})` : "";
    return `${level}: ${String(entry["msg"] ?? "")}${code}`;
  } catch {
    // nginx and HAProxy lines start with a timestamp or a PID: drop digits so that repeats count as one kind.
    return `output: ${line
      .replace(/[\d/:.[\]#*]+/g, "")
      .trim()
      .slice(0, 100)}`;
  }
}

export class ProxyProcess {
  /** What it wrote (warn and above, for wsgate), first lines only. */
  readonly output: string[] = [];
  outputLines = 0;
  /** Lines by kind, e.g. "warn: backend connect failed (ECONNREFUSED)". */
  readonly outputKinds: Tally = {};

  private constructor(
    readonly name: ProxyName,
    readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
    /** The admin listener's port, for targets that have one. */
    readonly adminPort: number | undefined,
  ) {
    const collect = (line: string): void => {
      if (line.trim() === "") return;
      this.outputLines++;
      if (this.output.length < 20) this.output.push(line.slice(0, 400));
      addTally(this.outputKinds, kindOfLogLine(line));
    };
    if (child.stdout) createInterface({ input: child.stdout }).on("line", collect);
    if (child.stderr) createInterface({ input: child.stderr }).on("line", collect);
  }

  /**
   * Starts `name` listening on a free port in front of the backend, prefixed by `prefix` (taskset pinning), and
   * waits until it accepts TCP connections. `track` registers the child so that the caller can kill it on exit.
   */
  static async start(
    name: ProxyName,
    options: {
      backendPort: number;
      maxFiles: number;
      prefix: readonly string[];
      tmpRoot: string;
      /** --baseline's checkout, for the -before targets. */
      baseline?: string | undefined;
      /** Node flags for a Node proxy (--profile: --cpu-prof, --trace-gc), placed right after `node`. */
      nodeFlags?: readonly string[];
      /** wss:// scenarios: terminate TLS with these files. */
      tls?: TlsFiles | undefined;
    },
    track: (child: ChildProcess) => void,
  ): Promise<ProxyProcess> {
    const port = await freePort();
    const adminPort = hasAdmin(name) ? await freePort() : undefined;
    const dir = mkdtempSync(join(options.tmpRoot, `${name}-`));
    const proxyCommand = prepareProxy(name, {
      port,
      backendPort: options.backendPort,
      dir,
      maxFiles: options.maxFiles,
      baseline: options.baseline,
      tls: options.tls,
      adminPort,
    });
    if (options.nodeFlags !== undefined && proxyCommand[0] === process.execPath)
      proxyCommand.splice(1, 0, ...options.nodeFlags);
    const command = [...options.prefix, ...proxyCommand];
    const [program, ...args] = command as [string, ...string[]];
    // The admin token goes in the environment, not on a command line that every local user can read.
    const env = { ...process.env, WSGATE_ADMIN_TOKEN: BENCH_ADMIN_TOKEN };
    const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"], cwd: dir, env });
    track(child);
    const proxy = new ProxyProcess(name, child, port, dir, adminPort);
    child.once("error", (error) => proxy.output.push(`spawn failed: ${error.message}`));
    const deadline = performance.now() + START_LIMIT_MS;
    while (!(await canConnect(port))) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
        throw new Error(`${name} exited before listening: ${proxy.output.join(" | ")}`);
      if (performance.now() > deadline) {
        await proxy.stop();
        throw new Error(`${name} did not accept connections within ${START_LIMIT_MS / 1000} s`);
      }
      await sleep(25);
    }
    return proxy;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** utime + stime of the proxy and its children (nginx's worker), in clock ticks. */
  cpuTicks(): number | undefined {
    return sumOver(processTree(this.pid), cpuTicks);
  }

  /** VmRSS of the proxy and its children, KiB. */
  rssKiB(): number | undefined {
    return sumOver(processTree(this.pid), rssKiB);
  }

  /** SIGTERM by PID, SIGKILL after the target's grace time; removes its temporary directory. */
  async stop(): Promise<{ ms: number; killed: boolean }> {
    const below = this.running ? processTree(this.pid).slice(1) : [];
    const stopped = await stopChild(this.child, stopGraceMs(this.name));
    // A killed nginx master leaves its worker behind: stop what was below it by PID too.
    for (const pid of below) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone, as it should be.
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    return stopped;
  }
}
