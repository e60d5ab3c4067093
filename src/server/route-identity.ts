import type { HTTPServerPathRule, HTTPServerRule } from "./spec.js";
import { canonicalJson } from "../util/canonical-json.js";

/** A route (one path rule of one rule of an HTTPServer) as sessions and reloads know it. */
export interface RouteIdentity {
  /**
   * Server, the rule's host criteria, the path's match criteria and the pipeline: what decides which upgrades the
   * route takes and where they go. Indices are left out, so the key survives rules being added or moved around it.
   */
  key: string;
  // For status views: host then path, `*` standing for any host, e.g. `example.com/ws`, `*/chat`.
  label: string;
}

export function routeIdentity(server: string, rule: HTTPServerRule, path: HTTPServerPathRule): RouteIdentity {
  const key = canonicalJson({
    server,
    host: { host: rule.host, hostRegexp: rule.hostRegexp, hosts: rule.hosts },
    path: {
      path: path.path,
      pathPrefix: path.pathPrefix,
      pathRegexp: path.pathRegexp,
      methods: path.methods,
      headers: path.headers,
      matchAllHeader: path.matchAllHeader,
      queries: path.queries,
      matchAllQuery: path.matchAllQuery,
    },
    pipeline: path.backend,
  });
  const host = rule.host ?? rule.hostRegexp ?? rule.hosts[0]?.value ?? "*";
  const pathText = path.path ?? path.pathPrefix ?? (path.pathRegexp === undefined ? "/" : `~${path.pathRegexp}`);
  return { key, label: `${host}${pathText.startsWith("/") ? "" : "/"}${pathText}` };
}

/** The identities of every route of a server, by rule and path index. */
export function routeIdentities(server: string, rules: readonly HTTPServerRule[]): RouteIdentity[][] {
  return rules.map((rule) => rule.paths.map((path) => routeIdentity(server, rule, path)));
}
