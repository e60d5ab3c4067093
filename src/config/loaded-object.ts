import type { ConfigError } from "./errors.js";
import { formatPath } from "./errors.js";
import { NAME_PATTERN } from "../schema/common-fields.js";
import type { Anchor, IssueReport } from "./issues.js";
import type { GatewaySpec } from "./kinds/gateway.js";
import type { HTTPServerSpec } from "../server/spec.js";
import type { PipelineSpec } from "../pipeline/spec.js";
import type { Position } from "./locate.js";
import { valueAt } from "../schema/plain-data.js";

interface LoadedBase {
  /** The name when it is a valid one. */
  name: string | undefined;
  /** How errors name the object: "pipeline ws-rr", or just "pipeline" without a valid name. */
  label: string;
  file: string;
  /** The document as plain data, before validation. */
  data: Record<string, unknown>;
  locate(path: readonly PropertyKey[], anchor: Anchor): Position;
}

/** One object read from a YAML document; `spec` is set when it passed its schema. */
export type LoadedObject =
  | (LoadedBase & { kind: "Gateway"; spec: GatewaySpec | undefined })
  | (LoadedBase & { kind: "HTTPServer"; spec: HTTPServerSpec | undefined })
  | (LoadedBase & { kind: "Pipeline"; spec: PipelineSpec | undefined });

/** The valid name of filter `index` in a pipeline's raw data, if it has one. */
function filterName(data: Record<string, unknown>, index: number): string | undefined {
  const name = valueAt(data, ["filters", index, "name"]);
  return typeof name === "string" && NAME_PATTERN.test(name) ? name : undefined;
}

/** Places a report in its file and words its path relative to the filter when it lies inside one. */
export function toConfigError(object: LoadedObject, report: IssueReport): ConfigError {
  const { line, column } = object.locate(report.path, report.anchor);
  const error: ConfigError = {
    file: object.file,
    line,
    column,
    object: object.label,
    path: "",
    message: report.message,
  };
  const [first, index, ...rest] = report.path;
  const filter = object.kind === "Pipeline" && first === "filters" && typeof index === "number";
  const name = filter ? filterName(object.data, index) : undefined;
  if (name !== undefined) {
    error.filter = name;
    error.path = formatPath(rest);
  } else {
    error.path = formatPath(report.path);
  }
  if (report.value !== undefined) error.value = report.value;
  return error;
}

/** A problem found in one object by looking at others too (names, references, files, addresses). */
export interface CrossReport {
  object: LoadedObject;
  report: IssueReport;
}
