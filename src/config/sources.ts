import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import type { ConfigError } from "./errors.js";

/** One configuration file's text, named as the user (or their directory) named it. */
export interface ConfigSource {
  file: string;
  text: string;
}

const YAML_EXTENSIONS = new Set([".yaml", ".yml"]);

function fileError(file: string, message: string): ConfigError {
  return { file, line: 0, column: 0, path: "", message };
}

/** Why a file could not be read, in words: "file not found", "permission denied". */
export function readProblem(error: unknown): string {
  const code = error instanceof Error && "code" in error ? String(error.code) : undefined;
  if (code === "ENOENT") return "file not found";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return `cannot read: ${error instanceof Error ? error.message : String(error)}`;
}

/** Files of a directory that hold configuration: .yaml and .yml, sorted, not recursive. */
async function directoryFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return (
    entries
      // Symbolic links count: mounted config maps (Kubernetes) are made of them.
      .filter(
        (entry) => (entry.isFile() || entry.isSymbolicLink()) && YAML_EXTENSIONS.has(extname(entry.name).toLowerCase()),
      )
      .map((entry) => entry.name)
      .sort()
      .map((name) => join(dir, name))
  );
}

/** Reads every file the given paths name; a path is a file or a directory of .yaml/.yml files. */
export async function readSources(
  paths: readonly string[],
): Promise<{ sources: ConfigSource[]; errors: ConfigError[] }> {
  const sources: ConfigSource[] = [];
  const errors: ConfigError[] = [];
  if (paths.length === 0) errors.push(fileError("", "no configuration files given"));
  for (const path of paths) {
    let files: string[];
    try {
      files = (await stat(path)).isDirectory() ? await directoryFiles(path) : [path];
    } catch (error) {
      errors.push(fileError(path, readProblem(error)));
      continue;
    }
    if (files.length === 0) errors.push(fileError(path, "directory has no .yaml or .yml files"));
    for (const file of files) {
      try {
        sources.push({ file, text: await readFile(file, "utf8") });
      } catch (error) {
        errors.push(fileError(file, readProblem(error)));
      }
    }
  }
  return { sources, errors };
}
