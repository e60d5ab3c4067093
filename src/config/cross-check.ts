import { filterResults, isFilterKind } from "../filters/registry.js";
import { adminTargetReports, type ValidationOptions } from "./admin-targets.js";
import type { IssueReport } from "./issues.js";
import { END } from "../pipeline/spec.js";
import type { HTTPServerSpec } from "../server/spec.js";
import type { CrossReport, LoadedObject } from "./loaded-object.js";
import { isRecord, mapsIn } from "../schema/plain-data.js";
import { didYouMean } from "../schema/suggest.js";

/** A problem found by looking at several objects (or several parts of one) together. */
/** "httpserver edge at gateway.yaml:2", for messages that point at another object. */
function place(object: LoadedObject): string {
  const { line } = object.locate(["name"], "value");
  return `${object.label} at ${object.file}:${line}`;
}

/** Names are unique across all objects, as in Easegress: the admin API addresses an object by its name alone. */
function duplicateNames(objects: readonly LoadedObject[]): CrossReport[] {
  const seen = new Map<string, LoadedObject>();
  const reports: CrossReport[] = [];
  for (const object of objects) {
    if (object.name === undefined) continue;
    const key = object.name;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, object);
      continue;
    }
    const message = `duplicate name '${object.name}' (already used by ${place(first)})`;
    reports.push({ object, report: { path: ["name"], anchor: "value", message, value: object.name } });
  }
  return reports;
}

/** Gateway holds process-wide settings: a second one would leave unclear which applies. */
function extraGateways(objects: readonly LoadedObject[]): CrossReport[] {
  const gateways = objects.filter((object) => object.kind === "Gateway");
  const [first, ...rest] = gateways;
  if (first === undefined) return [];
  const message = `only one Gateway object is allowed (already defined by ${place(first)})`;
  return rest.map((object) => ({ object, report: { path: ["kind"], anchor: "value", message, value: "Gateway" } }));
}

function backendMessage(backend: string, objects: readonly LoadedObject[]): string {
  const other = objects.find((object) => object.name === backend && object.kind !== "Pipeline");
  if (other !== undefined) return `'${backend}' is not a Pipeline (it names an object of kind ${other.kind})`;
  const pipelines = objects.flatMap((object) => (object.kind === "Pipeline" && object.name ? [object.name] : []));
  if (pipelines.length === 0) return `pipeline '${backend}' not found (no Pipeline is defined)`;
  const hint = didYouMean(backend, pipelines);
  return `pipeline '${backend}' not found${hint || ` (known pipelines: ${pipelines.join(", ")})`}`;
}

/** Every path's backend names a Pipeline; read from the raw data so that invalid servers are checked too. */
function missingBackends(server: LoadedObject, objects: readonly LoadedObject[]): CrossReport[] {
  const pipelines = new Set(
    objects.flatMap((object) => (object.kind === "Pipeline" && object.name ? [object.name] : [])),
  );
  return mapsIn(server.data, "rules").flatMap(([ruleIndex, rule]) =>
    mapsIn(rule, "paths").flatMap(([pathIndex, path]) => {
      const backend = path["backend"];
      if (typeof backend !== "string" || backend === "" || pipelines.has(backend)) return [];
      const report: IssueReport = {
        path: ["rules", ruleIndex, "paths", pathIndex, "backend"],
        anchor: "value",
        message: backendMessage(backend, objects),
        value: backend,
      };
      return [{ object: server, report }];
    }),
  );
}

const ALL_INTERFACES = new Set([undefined, "", "0.0.0.0", "::", "[::]"]);

/** Two servers cannot listen on the same port when their addresses overlap; all interfaces overlaps everything. */
function portClashes(objects: readonly LoadedObject[]): CrossReport[] {
  const reports: CrossReport[] = [];
  const listening: { object: LoadedObject; spec: HTTPServerSpec }[] = [];
  for (const object of objects) {
    if (object.kind !== "HTTPServer" || object.spec === undefined) continue;
    const spec = object.spec;
    const clash = listening.find(
      (other) =>
        other.spec.port === spec.port &&
        (other.spec.address === spec.address ||
          ALL_INTERFACES.has(other.spec.address) ||
          ALL_INTERFACES.has(spec.address)),
    );
    listening.push({ object, spec });
    if (clash === undefined) continue;
    const where = spec.address === undefined ? `port ${spec.port}` : `${spec.address} port ${spec.port}`;
    const message = `${where} is already used by ${place(clash.object)}`;
    reports.push({ object, report: { path: ["port"], anchor: "value", message, value: spec.port } });
  }
  return reports;
}

function filterNotFound(name: string, filters: readonly string[]): string {
  return `filter '${name}' not found${didYouMean(name, filters) || ` (filters: ${filters.join(", ")})`}`;
}

/** Filter names are unique in a pipeline, and the flow only names its filters, jumping forward. From raw data. */
function pipelineFlow(object: LoadedObject): CrossReport[] {
  const reports: CrossReport[] = [];
  const add = (path: PropertyKey[], message: string, value: unknown, anchor: IssueReport["anchor"] = "value") =>
    reports.push({ object, report: { path, anchor, message, value } });
  const kinds = new Map<string, string>();
  const filters = mapsIn(object.data, "filters");
  for (const [index, filter] of filters) {
    const name = filter["name"];
    if (typeof name !== "string") continue;
    const path = ["filters", index, "name"];
    if (name === END) add(path, `filter name '${END}' is reserved for ending the flow`, name);
    const first = filters.find(([, other]) => other["name"] === name)?.[0] ?? index;
    if (first < index) add(path, `duplicate filter name '${name}' (already used by filters[${first}])`, name);
    if (!kinds.has(name)) kinds.set(name, typeof filter["kind"] === "string" ? filter["kind"] : "");
  }
  const names = [...kinds.keys()];
  const flow = mapsIn(object.data, "flow");
  for (const [index, node] of flow) {
    const name = node["filter"];
    if (typeof name !== "string") continue;
    const kind = kinds.get(name);
    if (name !== END && kind === undefined) add(["flow", index, "filter"], filterNotFound(name, names), name);
    const jumpIf = isRecord(node["jumpIf"]) ? node["jumpIf"] : {};
    for (const [result, target] of Object.entries(jumpIf)) {
      const path = ["flow", index, "jumpIf", result];
      if (kind !== undefined && isFilterKind(kind) && !filterResults(kind).includes(result)) {
        const results = filterResults(kind);
        const known =
          results.length === 0 ? `${kind} filters return no results` : `expected one of ${results.join(", ")}`;
        add(path, `unknown result '${result}' for filter ${name} (${known})`, result, "key");
      }
      if (typeof target !== "string" || target === END) continue;
      if (!kinds.has(target)) add(path, filterNotFound(target, names), target);
      else if (!flow.some(([laterIndex, later]) => laterIndex > index && later["filter"] === target)) {
        add(path, `jumpIf target '${target}' must be a filter later in the flow, or ${END}`, target);
      }
    }
  }
  return reports;
}

/**
 * Checks that need more than one object's schema: references between objects, names, ports and flows, and URLs that
 * would reach the admin listener (which `options` may name).
 */
export function crossCheck(objects: readonly LoadedObject[], options: ValidationOptions = {}): CrossReport[] {
  const reports = [
    ...duplicateNames(objects),
    ...portClashes(objects),
    ...extraGateways(objects),
    ...adminTargetReports(objects, options),
  ];
  for (const object of objects) {
    reports.push(...(object.kind === "HTTPServer" ? missingBackends(object, objects) : pipelineFlow(object)));
  }
  return reports;
}
