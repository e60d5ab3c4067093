import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { formatConfigError, loadConfig } from "../../src/config/load.js";
import type { ConfigLoadResult, GatewayConfig } from "../../src/config/load.js";

/** Strips the indentation common to all lines and the first newline, so YAML can be written indented in tests. */
export function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = String.raw({ raw: strings }, ...values).replace(/^\n/, "");
  const indents = text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => /^ */.exec(line)?.[0].length ?? 0);
  const common = Math.min(...indents);
  return text
    .split("\n")
    .map((line) => line.slice(common))
    .join("\n");
}

/** A temporary directory for one test file's configuration files; remove it with `cleanup`. */
export class TempConfig {
  private constructor(readonly dir: string) {}

  static async create(): Promise<TempConfig> {
    return new TempConfig(await mkdtemp(join(tmpdir(), "wsgate-config-")));
  }

  /** Writes `text` to `name` (which may contain subdirectories) and returns the file's path. */
  async write(name: string, text: string): Promise<string> {
    const path = join(this.dir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    return path;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The formatted errors of a load that must fail. */
export function errorLines(result: ConfigLoadResult): string[] {
  if (result.ok) throw new Error("expected the configuration to be rejected, but it loaded");
  return result.errors.map(formatConfigError);
}

/** The configuration of a load that must succeed; fails with the formatted errors otherwise. */
export function configOf(result: ConfigLoadResult): GatewayConfig {
  if (!result.ok) throw new Error(`expected the configuration to load:\n${errorLines(result).join("\n")}`);
  return result.config;
}

/** Writes one file and loads it, returning its path and the formatted errors. */
export async function loadErrors(
  temp: TempConfig,
  name: string,
  text: string,
): Promise<{ file: string; errors: string[] }> {
  const file = await temp.write(name, text);
  return { file, errors: errorLines(await loadConfig([file])) };
}
