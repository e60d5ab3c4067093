import { stringify } from "yaml";
import type { ConfigError } from "./errors.js";
import { sortConfigErrors } from "./errors.js";
import type { ValidationOptions } from "./admin-targets.js";
import { crossCheck } from "./cross-check.js";
import type { GatewaySpec } from "./kinds/gateway.js";
import type { HTTPServerSpec } from "../server/spec.js";
import type { PipelineSpec } from "../pipeline/spec.js";
import { toConfigError } from "./loaded-object.js";
import type { LoadedObject } from "./loaded-object.js";
import { parseObjects } from "./parse-objects.js";
import { readSources } from "./sources.js";
import { tlsFileReports } from "./tls-files.js";
import { configWarnings } from "./warnings.js";
import type { ConfigSource } from "./sources.js";

export type { ConfigError } from "./errors.js";
export { formatConfigError, formatConfigWarning } from "./errors.js";

/** One object as written (plain data before defaults), as the admin API and the stores keep it. */
export interface ConfigObject {
  kind: string;
  name: string;
  data: Record<string, unknown>;
}

/** Validated configuration: defaults applied, durations in milliseconds. */
export interface GatewayConfig {
  httpServers: HTTPServerSpec[];
  pipelines: PipelineSpec[];
  /** The process-wide settings, when a Gateway object is given. */
  gateway?: GatewaySpec;
  /** Every object as written, in load order. */
  objects: ConfigObject[];
  /** Where each object was read (file, line of `kind:`): the admin API shows it as the source. None when no objects. */
  positions?: Map<string, { file: string; line: number }>;
}

/**
 * Either the whole configuration with any warnings (it loads, but probably not as meant), or every error found in
 * it; both sorted by file and line.
 */
export type ConfigLoadResult =
  { ok: true; config: GatewayConfig; warnings: ConfigError[] } | { ok: false; errors: ConfigError[] };

/** Validates several named texts as one configuration; for the admin API (the request body and the stored objects). */
export function validateSources(sources: readonly ConfigSource[], options: ValidationOptions = {}): ConfigLoadResult {
  return validate(parseSources(sources, []), options);
}

/** Objects read from the sources, and the errors found reading and parsing them. */
interface Parsed {
  objects: LoadedObject[];
  errors: ConfigError[];
  warnings: ConfigError[];
}

function parseSources(sources: readonly ConfigSource[], readErrors: readonly ConfigError[]): Parsed {
  const parsed: Parsed = { objects: [], errors: [...readErrors], warnings: [] };
  for (const source of sources) {
    const each = parseObjects(source.text, source.file);
    parsed.objects.push(...each.objects);
    parsed.errors.push(...each.errors);
  }
  return parsed;
}

function validate({ objects, errors, warnings }: Parsed, options: ValidationOptions): ConfigLoadResult {
  errors.push(...crossCheck(objects, options).map(({ object, report }) => toConfigError(object, report)));
  if (errors.length > 0) return { ok: false, errors: sortConfigErrors(errors) };
  warnings.push(...configWarnings(objects).map(({ object, report }) => toConfigError(object, report)));
  const config: GatewayConfig = { httpServers: [], pipelines: [], objects: [] };
  for (const object of objects) {
    if (object.name !== undefined) {
      config.objects.push({ kind: object.kind, name: object.name, data: object.data });
      config.positions ??= new Map();
      config.positions.set(object.name, { file: object.file, line: object.locate(["kind"], "key").line });
    }
    if (object.kind === "Gateway" && object.spec !== undefined) config.gateway = object.spec;
    if (object.kind === "HTTPServer" && object.spec !== undefined) config.httpServers.push(object.spec);
    if (object.kind === "Pipeline" && object.spec !== undefined) config.pipelines.push(object.spec);
  }
  return { ok: true, config, warnings: sortConfigErrors(warnings) };
}

/** Files that hold no object at all: a config that would start a gateway serving nothing is a mistake. */
function emptyFiles(sources: readonly ConfigSource[]): ConfigError[] {
  return sources.map((source) => ({
    file: source.file,
    line: 0,
    column: 0,
    path: "",
    message: "no objects: the file is empty or holds only comments (expected an HTTPServer and a Pipeline)",
  }));
}

/**
 * Loads configuration from files and directories (every .yaml/.yml directly inside, sorted). A file may hold
 * several objects separated by `---`.
 */
export async function loadConfig(paths: readonly string[], options: ValidationOptions = {}): Promise<ConfigLoadResult> {
  const { sources, errors } = await readSources(paths);
  const parsed = parseSources(sources, errors);
  if (parsed.objects.length === 0 && parsed.errors.length === 0) parsed.errors.push(...emptyFiles(sources));
  // Certificate files as `run` reads them: what would stop it from starting is an error here too.
  const tls = await tlsFileReports(parsed.objects);
  parsed.errors.push(...tls.errors.map(({ object, report }) => toConfigError(object, report)));
  parsed.warnings.push(...tls.warnings.map(({ object, report }) => toConfigError(object, report)));
  return validate(parsed, options);
}

/** Validates configuration text as if read from `fileName`; for tests and the admin API. */
export function loadConfigText(text: string, fileName: string): ConfigLoadResult {
  return validate(parseSources([{ file: fileName, text }], []), {});
}

/**
 * Validates objects held as data (the admin API's store) as one YAML stream named `label`; errors give the line in
 * that stream, and name the object and field.
 */
export function validateObjects(
  objects: readonly ConfigObject[],
  label: string,
  options: ValidationOptions = {},
): ConfigLoadResult {
  const text = objects.map((object) => stringify(object.data)).join("---\n");
  return validate(parseSources([{ file: label, text }], []), options);
}
