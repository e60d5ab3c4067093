// A real etcd for the cluster-store tests: one member on loopback ephemeral ports with its data in a temp dir,
// stopped by PID. It can be stopped and started again on the same ports and data (an outage), then removed.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, withTimeout } from "./net.js";

const ETCD = process.env.WSGATE_TEST_ETCD ?? "etcd";

/**
 * Why the etcd tests cannot run here, or undefined when they can. Without etcd they are skipped on a developer's
 * machine, but in CI (CI set) etcd must be there (.ci/run installs it), so there they run and fail loudly.
 */
export function etcdMissing(): string | undefined {
  const probe = spawnSync(ETCD, ["--version"], { stdio: "ignore", timeout: 5000 });
  if (probe.error === undefined && probe.status === 0) return undefined;
  if (process.env.CI !== undefined && process.env.CI !== "") return undefined;
  return `'${ETCD}' is not installed (apt-get install etcd-server, or set WSGATE_TEST_ETCD); skipping etcd tests`;
}

export class EtcdServer {
  private child: ChildProcess | undefined;
  private output = "";

  private constructor(
    readonly dataDir: string,
    readonly clientPort: number,
    readonly peerPort: number,
  ) {}

  /** The client URL, as EtcdObjectStore takes it. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  static async start(): Promise<EtcdServer> {
    const dataDir = await mkdtemp(join(tmpdir(), "wsgate-etcd-"));
    const server = new EtcdServer(dataDir, await freePort(), await freePort());
    try {
      await server.resume();
    } catch (error) {
      await server.remove();
      throw error;
    }
    return server;
  }

  /** Starts etcd (again) on the same ports and data dir; resolves once it answers /health. */
  async resume(): Promise<void> {
    if (this.child !== undefined) return;
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.output = "";
    const child = spawn(
      ETCD,
      [
        "--name=default",
        `--data-dir=${join(this.dataDir, "data")}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=default=${peer}`,
        "--logger=zap",
        "--log-level=error",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.child = child;
    child.stderr!.on("data", (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-4000)));
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code, signal) =>
        reject(new Error(`etcd exited (${code ?? signal}) before it was healthy: ${this.output}`)),
      ),
    );
    exited.catch(() => undefined);
    await withTimeout(
      Promise.race([this.healthy(child, Date.now() + 15_000), exited]),
      15_000,
      "etcd to become healthy",
    );
  }

  /** Stops etcd by PID: SIGTERM, then SIGKILL if it lingers. Data and ports are kept for `resume`. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops etcd and removes its data. */
  async remove(): Promise<void> {
    await this.stop();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  /** Polls /health until etcd answers healthy, it exits, or the deadline passes (withTimeout reports that). */
  private async healthy(child: ChildProcess, deadline: number): Promise<void> {
    while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
      try {
        const answer = await fetch(`${this.endpoint}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await answer.json()) as { health?: string };
        if (body.health === "true") return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
