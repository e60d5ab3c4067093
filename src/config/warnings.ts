// Configuration that loads and runs, but probably not as its author meant: reported as warnings (validate prints
// them, run logs them at start and on reload), never refused, so that configs copied from elsewhere keep loading.
import type { CrossReport } from "./loaded-object.js";
import type { LoadedObject } from "./loaded-object.js";
import { mapsIn } from "../schema/plain-data.js";

/** The part of a backend URL after the host that the gateway does not use, or undefined when there is none. */
function unusedUrlPart(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined; // The schema reports it.
  }
  const rest = `${url.pathname === "/" ? "" : url.pathname}${url.search}`;
  return rest === "" ? undefined : rest;
}

/**
 * A WebSocketProxy server URL with a path (`ws://host:8080/ws`, as Seam's `upstreamEndpoint` is written): the backend
 * gets the client's request path, so the URL's path is silently unused for traffic.
 */
function serverUrlPaths(object: LoadedObject): CrossReport[] {
  const reports: CrossReport[] = [];
  for (const [filterIndex, filter] of mapsIn(object.data, "filters")) {
    if (filter["kind"] !== "WebSocketProxy") continue;
    for (const [poolIndex, pool] of mapsIn(filter, "pools")) {
      for (const [serverIndex, server] of mapsIn(pool, "servers")) {
        const url = server["url"];
        const unused = typeof url === "string" ? unusedUrlPart(url) : undefined;
        if (unused === undefined) continue;
        const message =
          `the path '${unused}' of this URL is not used: the backend gets the client's request path. ` +
          `To send '${unused}' to the backend, set rewriteTarget: ${unused} on the HTTPServer path rule and drop it ` +
          "here; otherwise just drop it (health checks without a uri use it)";
        const path = ["filters", filterIndex, "pools", poolIndex, "servers", serverIndex, "url"];
        reports.push({ object, report: { path, anchor: "value", message, value: url } });
      }
    }
  }
  return reports;
}

/** Every warning about `objects`; each names its object and field like an error does. */
export function configWarnings(objects: readonly LoadedObject[]): CrossReport[] {
  return objects.flatMap((object) => (object.kind === "Pipeline" ? serverUrlPaths(object) : []));
}
