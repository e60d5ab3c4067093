import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { withTimeout } from "./net.js";

const CLI = new URL("../../src/cli.js", import.meta.url).pathname;

export type LogLine = Record<string, unknown> & { msg?: string };

/** The real CLI, started as users start it, with its JSON log lines collected. */
export class GatewayProcess {
  readonly logs: LogLine[] = [];
  stderr = "";
  private waiters: Array<() => boolean> = [];
  readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    /** The config file the gateway runs on. */
    readonly configFile: string,
  ) {
    createInterface({ input: child.stdout! }).on("line", (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        return;
      }
      this.logs.push(line);
      this.waiters = this.waiters.filter((settled) => !settled());
    });
    child.stderr!.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  }

  /** The admin API's port, when started with `admin: true`. */
  adminPort = 0;

  /**
   * Writes `yaml` to a temp file and runs `wsgate run` on it; resolves once every server listens. The admin API is off
   * (tests run many gateways at once) unless `admin` is set: then it listens on an ephemeral loopback port, or as
   * `args` say (e.g. `--admin-address`, `--admin-token`). `servers: 0` waits only for the admin API.
   */
  static async start(
    yaml: string,
    options: {
      servers?: number;
      args?: string[];
      admin?: boolean;
      env?: NodeJS.ProcessEnv;
      /** Default true; false runs without `--config` (a cluster member taking the cluster's objects). */
      config?: boolean;
      /** Node's own flags, before the CLI script (e.g. `--require HOOK`). */
      nodeArgs?: string[];
      /** The CLI script to run, when not this checkout's (e.g. a copied build that `wsgate upgrade` replaces). */
      cli?: string;
    } = {},
  ): Promise<GatewayProcess> {
    const dir = mkdtempSync(join(tmpdir(), "wsgate-test-"));
    const file = join(dir, "gateway.yaml");
    writeFileSync(file, yaml);
    const args = options.args ?? [];
    const adminArgs =
      options.admin === true
        ? args.includes("--admin-address")
          ? []
          : ["--admin-address", "127.0.0.1:0"]
        : ["--admin-address", "off"];
    const child = spawn(
      process.execPath,
      [
        ...(options.nodeArgs ?? []),
        options.cli ?? CLI,
        "run",
        ...(options.config === false ? [] : ["--config", file]),
        "--log-level",
        "debug",
        ...adminArgs,
        ...args,
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: options.env ?? process.env,
      },
    );
    const gateway = new GatewayProcess(child, file);
    const servers = options.servers ?? 1;
    // As long as the start may take: several workers can take seconds to boot on a busy machine.
    const listening = gateway
      .logsMatching((line) => line.msg === "listening", servers, 10_000)
      .then(() => (options.admin === true ? gateway.nextLog((line) => line.msg === "admin listening") : undefined))
      .then((line) => {
        if (line !== undefined) gateway.adminPort = Number(line["port"]);
      });
    await withTimeout(
      Promise.race([
        listening,
        gateway.exited.then((code) => {
          throw new Error(`gateway exited with ${code} before listening: ${gateway.stderr}`);
        }),
      ]),
      10_000,
      "the gateway to listen",
    );
    return gateway;
  }

  /** Resolves once `count` log lines (already logged or to come) pass `test`, with those lines. */
  logsMatching(test: (line: LogLine) => boolean, count = 1, ms = 5000): Promise<LogLine[]> {
    return withTimeout(
      new Promise<LogLine[]>((resolve) => {
        const settled = (): boolean => {
          const lines = this.logs.filter(test);
          if (lines.length < count) return false;
          resolve(lines);
          return true;
        };
        if (!settled()) this.waiters.push(settled);
      }),
      ms,
      "log lines",
    );
  }

  /** The first log line that passes `test`, waiting for it if need be. */
  async nextLog(test: (line: LogLine) => boolean, ms = 5000): Promise<LogLine> {
    const [line] = await this.logsMatching(test, 1, ms);
    return line as LogLine;
  }

  /** Replaces the config file as editors and deploy tools do: a new file renamed over the old one. */
  rewriteConfig(yaml: string): void {
    writeFileSync(`${this.configFile}.tmp`, yaml);
    renameSync(`${this.configFile}.tmp`, this.configFile);
  }

  /** Asks the gateway to reload its config files. */
  sighup(): void {
    this.child.kill("SIGHUP");
  }

  /** Stops the gateway with SIGTERM and waits for it to exit; returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill("SIGTERM");
    return withTimeout(this.exited, 15_000, "the gateway to exit").catch(() => {
      this.child.kill("SIGKILL");
      return null;
    });
  }
}
