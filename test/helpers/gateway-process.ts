import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
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

  private constructor(readonly child: ChildProcess) {
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

  /**
   * Writes `yaml` to a temp file and runs `wsgate run` on it; resolves once every server listens. `entry` runs another
   * script with the same arguments instead of the CLI (a test primary, see test/cluster/fixtures).
   */
  static async start(
    yaml: string,
    options: { servers?: number; args?: string[]; entry?: string } = {},
  ): Promise<GatewayProcess> {
    const dir = mkdtempSync(join(tmpdir(), "wsgate-test-"));
    const file = join(dir, "gateway.yaml");
    writeFileSync(file, yaml);
    const child = spawn(
      process.execPath,
      [options.entry ?? CLI, "run", "--config", file, "--log-level", "debug", ...(options.args ?? [])],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const gateway = new GatewayProcess(child);
    const servers = options.servers ?? 1;
    // As long as the start may take: several workers can take seconds to boot on a busy machine.
    const listening = gateway.logsMatching((line) => line.msg === "listening", servers, 10_000);
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
