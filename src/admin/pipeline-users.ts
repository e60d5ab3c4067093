// Who still routes to a pipeline: a delete of it names each server and route, rather than leaving the operator to
// read "pipeline not found" errors against the servers.
import type { ConfigObject } from "../config/load.js";
import { apiError } from "../errors.js";

/** One route of an HTTPServer to the pipeline: "httpserver edge rules[0] (host *) path /ws". */
export interface PipelineUse {
  server: string;
  rule: number;
  host: string;
  path: string;
}

function mapsIn(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value)
    ? value.filter((item): item is Record<string, unknown> => typeof item === "object" && item !== null)
    : [];
}

function pathOf(path: Record<string, unknown>): string {
  for (const field of ["path", "pathPrefix", "pathRegexp"]) {
    const value = path[field];
    if (typeof value === "string") return `${field === "path" ? "" : `${field} `}${value}`;
  }
  return "any path";
}

/** Every route of every server in `objects` whose backend is `pipeline`, in load order. */
export function pipelineUses(pipeline: string, objects: readonly ConfigObject[]): PipelineUse[] {
  return objects
    .filter((object) => object.kind === "HTTPServer")
    .flatMap((server) =>
      mapsIn(server.data["rules"]).flatMap((rule, index) =>
        mapsIn(rule["paths"])
          .filter((path) => path["backend"] === pipeline)
          .map((path) => ({
            server: server.name,
            rule: index,
            host: typeof rule["host"] === "string" ? rule["host"] : "*",
            path: pathOf(path),
          })),
      ),
    );
}

export class PipelineInUseError extends apiError("WSG_PIPELINE_IN_USE") {
  constructor(pipeline: string, uses: readonly PipelineUse[]) {
    const routes = uses.map((use) => `httpserver ${use.server} rules[${use.rule}] (host ${use.host}) path ${use.path}`);
    super(
      `pipeline ${pipeline} is still routed to by ${routes.join("; ")}: ` +
        "change or delete those routes first, then delete the pipeline",
    );
  }
}
