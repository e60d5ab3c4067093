// URLs the gateway connects to (pool servers, their health checks, JWKS) must not be its own admin listener: a
// pipeline could otherwise proxy traffic to the admin API, or a health check send it DELETE, without the token.
import { DEFAULT_ADMIN_ADDRESS, parseAdminAddress, reachesListener } from "../util/net/admin-address.js";
import type { CrossReport } from "./loaded-object.js";
import type { LoadedObject } from "./loaded-object.js";
import { markedPaths } from "../schema/marked-fields.js";
import { objectKinds } from "./object-kinds.js";
import { valueAt } from "../schema/plain-data.js";

/** Where an admin listener is: as configured (`127.0.0.1:2381`), or as bound (`0.0.0.0`, port 40123). */
export interface ListenerAddress {
  host: string;
  port: number;
}

/** What validation knows beyond the objects. */
export interface ValidationOptions {
  /**
   * The admin listener(s): the `--admin-address` flag, or the address it bound. Default: the Gateway object's
   * `adminAddress`, else 127.0.0.1:2381; none when `off`.
   */
  adminListeners?: readonly ListenerAddress[];
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { "ws:": 80, "http:": 80, "wss:": 443, "https:": 443 };

/** The admin listeners `objects` must keep clear of: as given, else as their Gateway object says. */
export function adminListenersOf(objects: readonly LoadedObject[], options: ValidationOptions): ListenerAddress[] {
  if (options.adminListeners !== undefined) return [...options.adminListeners];
  const gateway = objects.find((object) => object.kind === "Gateway");
  const text = gateway?.data["adminAddress"];
  try {
    const address = parseAdminAddress(typeof text === "string" ? text : DEFAULT_ADMIN_ADDRESS);
    return address === "off" ? [] : [address];
  } catch {
    // The Gateway object's own schema reports a broken address.
    return [];
  }
}

/** The listener `url` (any spelling of its host) would reach, if it is one of `listeners`. */
function listenerAt(host: string, port: number, listeners: readonly ListenerAddress[]): ListenerAddress | undefined {
  return listeners.find((listener) => listener.port === port && reachesListener(host, listener.host));
}

function endpointOf(text: unknown): { host: string; port: number } | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const url = new URL(text);
    const port = url.port === "" ? DEFAULT_PORTS[url.protocol] : Number(url.port);
    return port === undefined ? undefined : { host: url.hostname, port };
  } catch {
    return undefined;
  }
}

function message(what: string, listener: ListenerAddress): string {
  const where = `${listener.host.includes(":") ? `[${listener.host}]` : listener.host}:${listener.port}`;
  return `${what} points at this gateway's admin API (${where}); it must not (the admin API is not a backend)`;
}

/** Pool servers, health checks and JWKS URLs of `object` that reach an admin listener, each at its field. */
function adminPointing(object: LoadedObject, listeners: readonly ListenerAddress[]): CrossReport[] {
  const reports: CrossReport[] = [];
  const checked = new Set<string>();
  for (const path of markedPaths(objectKinds[object.kind].schema, object.data, "outboundUrl")) {
    const value = valueAt(object.data, path);
    const endpoint = endpointOf(value);
    if (endpoint === undefined) continue;
    const hit = listenerAt(endpoint.host, endpoint.port, listeners);
    if (hit !== undefined) {
      reports.push({ object, report: { path, anchor: "value", message: message(`'${String(value)}'`, hit), value } });
    }
    // A pool server's health checks go to its host at the check's own port, when it gives one.
    if (path.length < 3 || path[path.length - 3] !== "servers") continue;
    const pool = path.slice(0, -3);
    for (const kind of ["ws", "http"]) {
      const portPath = [...pool, "healthCheck", kind, "port"];
      const port = valueAt(object.data, portPath);
      const key = JSON.stringify(portPath.map(String));
      if (typeof port !== "number" || checked.has(key)) continue;
      const target = listenerAt(endpoint.host, port, listeners);
      if (target === undefined) continue;
      checked.add(key);
      const what = `the ${kind} health check of '${String(value)}' at port ${port}`;
      reports.push({
        object,
        report: { path: portPath, anchor: "value", message: message(what, target), value: port },
      });
    }
  }
  return reports;
}

/** Every object's URLs against the admin listeners. */
export function adminTargetReports(objects: readonly LoadedObject[], options: ValidationOptions): CrossReport[] {
  const listeners = adminListenersOf(objects, options);
  if (listeners.length === 0) return [];
  return objects.flatMap((object) => adminPointing(object, listeners));
}
