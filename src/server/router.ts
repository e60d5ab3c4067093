// HTTPServer routing with Easegress semantics: rules in order, first host+path match wins.
import type { IncomingHttpHeaders } from "node:http";
import { compileHostPattern, compileHostRegexp, normalizeRequestHost } from "./host-pattern.js";
import type { HostMatcher } from "./host-pattern.js";
import type { HeaderMatchSpec, PathRuleSpec, RouteRuleSpec } from "./route-spec.js";
import { CONFIG_PATHS, normalizePath, parseRequestTarget, type RequestTarget } from "./request-target.js";
import { RequestTargetError } from "../errors.js";
import type { RouteMatch } from "../pipeline/context.js";

// The match type lives with the request context, which filters may read; the router is where it is made.
export type { RouteMatch };

export interface RouteRequest {
  method: string;
  /** Raw Host header: may carry a port, may be a bracketed IPv6 address. */
  host: string | undefined;
  /** The request-target as parseRequestTarget normalised it: what every later step reads. */
  target: RequestTarget;
  headers: IncomingHttpHeaders;
}

/**
 * Routes requests to backends. Paths are compared as parseRequestTarget normalised them (request-target.ts); rule
 * paths and rewriteTarget results are normalised by the same function. Header and query conditions see a missing
 * value as "" (as Easegress does).
 */
export class Router {
  readonly #rules: readonly CompiledRule[];
  readonly #needsHost: boolean;

  constructor(rules: readonly RouteRuleSpec[]) {
    this.#rules = rules.map((rule, ruleIndex) => compileRule(rule, ruleIndex));
    this.#needsHost = this.#rules.some((rule) => rule.hosts.length > 0);
  }

  /** The route taken, undefined when none matches, or the refusal of a rewritten target that cannot be normalised. */
  match(request: RouteRequest): RouteMatch | RequestTargetError | undefined {
    const { target } = request;
    if (target.form === "asterisk") return undefined;
    const host = this.#needsHost ? normalizeRequestHost(request.host) : undefined;
    const { path } = target;
    let query: URLSearchParams | undefined;
    for (const rule of this.#rules) {
      if (!hostMatches(rule.hosts, host)) continue;
      for (const candidate of rule.paths) {
        if (candidate.methods !== undefined && !candidate.methods.has(request.method)) continue;
        const how = pathMatch(candidate, path);
        if (how === undefined) continue;
        if (!valuesMatch(candidate.headers, candidate.matchAllHeaders, request.headers, headerValue)) continue;
        if (candidate.queries.length > 0) {
          query ??= new URLSearchParams(target.search);
          if (!valuesMatch(candidate.queries, candidate.matchAllQueries, query, queryValue)) continue;
        }
        const upstreamTarget = rewrittenTarget(candidate, how, target);
        if (typeof upstreamTarget !== "string") return upstreamTarget;
        return {
          pipeline: candidate.pipeline,
          target: upstreamTarget,
          ruleIndex: rule.ruleIndex,
          pathIndex: candidate.pathIndex,
          clientMaxBodySize: candidate.clientMaxBodySize,
        };
      }
    }
    return undefined;
  }
}

interface CompiledRule {
  ruleIndex: number;
  /** Empty: the rule has no host condition and takes every host. */
  hosts: readonly HostMatcher[];
  paths: readonly CompiledPath[];
}

interface CompiledPath {
  pathIndex: number;
  exact: string | undefined;
  prefix: string | undefined;
  regexp: RegExp | undefined;
  rewriteTarget: string | undefined;
  methods: ReadonlySet<string> | undefined;
  headers: readonly ValueCondition[];
  matchAllHeaders: boolean;
  queries: readonly ValueCondition[];
  matchAllQueries: boolean;
  clientMaxBodySize: number | undefined;
  /** The pipeline the path sends to (its `backend` field, as Easegress names it). */
  pipeline: string;
}

interface ValueCondition {
  key: string;
  values: ReadonlySet<string> | undefined;
  regexp: RegExp | undefined;
}

/** Which path condition held; decides how rewriteTarget applies. */
type PathMatchKind = "exact" | "prefix" | "regexp" | "any";

function compileRule(rule: RouteRuleSpec, ruleIndex: number): CompiledRule {
  const where = `rules[${ruleIndex}]`;
  const hosts: HostMatcher[] = [];
  if (nonEmpty(rule.host)) hosts.push(withLocation(`${where}.host`, compileHostPattern, rule.host));
  if (nonEmpty(rule.hostRegexp)) hosts.push(withLocation(`${where}.hostRegexp`, compileHostRegexp, rule.hostRegexp));
  for (const [index, { value, isRegexp }] of (rule.hosts ?? []).entries()) {
    hosts.push(withLocation(`${where}.hosts[${index}]`, isRegexp ? compileHostRegexp : compileHostPattern, value));
  }
  const paths = rule.paths.map((spec, pathIndex) => compilePath(spec, pathIndex, `${where}.paths[${pathIndex}]`));
  return { ruleIndex, hosts, paths };
}

function compilePath(spec: PathRuleSpec, pathIndex: number, where: string): CompiledPath {
  const { path, pathPrefix, pathRegexp, rewriteTarget, methods } = spec;
  return {
    pathIndex,
    exact: nonEmpty(path) ? withLocation(`${where}.path`, normalizeConfigPath, path) : undefined,
    prefix: nonEmpty(pathPrefix) ? withLocation(`${where}.pathPrefix`, normalizeConfigPath, pathPrefix) : undefined,
    regexp: nonEmpty(pathRegexp) ? withLocation(`${where}.pathRegexp`, compileRegexp, pathRegexp) : undefined,
    rewriteTarget: nonEmpty(rewriteTarget)
      ? withLocation(`${where}.rewriteTarget`, checkRewriteTarget, rewriteTarget)
      : undefined,
    methods: methods?.length ? new Set(methods.map((method) => method.toUpperCase())) : undefined,
    // Node lowercases incoming header names; query keys stay case-sensitive.
    headers: (spec.headers ?? []).map((header, index) =>
      compileValueCondition(header, header.key.toLowerCase(), `${where}.headers[${index}]`),
    ),
    matchAllHeaders: spec.matchAllHeader,
    queries: (spec.queries ?? []).map((query, index) =>
      compileValueCondition(query, query.key, `${where}.queries[${index}]`),
    ),
    matchAllQueries: spec.matchAllQuery,
    clientMaxBodySize: spec.clientMaxBodySize,
    pipeline: spec.backend,
  };
}

function compileValueCondition(spec: HeaderMatchSpec, key: string, where: string): ValueCondition {
  return {
    key,
    values: spec.values?.length ? new Set(spec.values) : undefined,
    regexp: nonEmpty(spec.regexp) ? withLocation(`${where}.regexp`, compileRegexp, spec.regexp) : undefined,
  };
}

function compileRegexp(source: string): RegExp {
  return new RegExp(source);
}

// Config errors must name the offending field, not just quote a regexp engine message.
function withLocation<T>(where: string, compile: (source: string) => T, source: string): T {
  try {
    return compile(source);
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
  }
}

// Easegress treats empty strings as "not set"; the config schema may pass them through.
function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value.length > 0;
}

function hostMatches(matchers: readonly HostMatcher[], host: string | undefined): boolean {
  if (matchers.length === 0) return true;
  if (host === undefined) return false;
  for (const matcher of matchers) if (matcher(host)) return true;
  return false;
}

// Conditions are ORed in Easegress order: path, then pathPrefix, then pathRegexp; none at all matches every path.
function pathMatch(candidate: CompiledPath, path: string): PathMatchKind | undefined {
  const { exact, prefix, regexp } = candidate;
  if (exact === undefined && prefix === undefined && regexp === undefined) return "any";
  if (exact !== undefined && path === exact) return "exact";
  if (prefix !== undefined && path.startsWith(prefix)) return "prefix";
  if (regexp !== undefined && regexp.test(path)) return "regexp";
  return undefined;
}

// The reader is a module-level function so that no closure is allocated per request.
function valuesMatch<Source>(
  conditions: readonly ValueCondition[],
  matchAll: boolean,
  source: Source,
  read: (source: Source, key: string) => string,
): boolean {
  if (conditions.length === 0) return true;
  for (const { key, values, regexp } of conditions) {
    const value = read(source, key);
    if (matchAll) {
      if (values !== undefined && !values.has(value)) return false;
      if (regexp !== undefined && !regexp.test(value)) return false;
    } else if (values?.has(value) === true || regexp?.test(value) === true) {
      return true;
    }
  }
  return matchAll;
}

// Repeated headers arrive as arrays (Node joins most of them with ", " instead); the first one counts.
function headerValue(headers: IncomingHttpHeaders, key: string): string {
  const value = headers[key];
  return (Array.isArray(value) ? value[0] : value) ?? "";
}

function queryValue(query: URLSearchParams, key: string): string {
  return query.get(key) ?? "";
}

function rewrittenTarget(
  candidate: CompiledPath,
  how: PathMatchKind,
  target: RequestTarget,
): string | RequestTargetError {
  const { path, search } = target;
  const rewrite = candidate.rewriteTarget;
  if (rewrite === undefined || how === "any") return path + search;
  let rewritten: string;
  if (how === "exact") rewritten = rewrite;
  else if (how === "prefix") rewritten = rewrite + path.slice(candidate.prefix?.length ?? 0);
  else rewritten = candidate.regexp === undefined ? path : path.replace(candidate.regexp, rewrite);
  // A regexp replacement can eat the leading slash; an upstream request target needs it.
  if (rewritten.charCodeAt(0) !== SLASH) rewritten = "/" + rewritten;
  // Pieces of a normal path joined to the operator's text can form "..": the result is normalised like a request.
  const normalized = parseRequestTarget(rewritten + search, "GET", undefined, CONFIG_PATHS);
  return normalized instanceof RequestTargetError ? normalized : normalized.path + normalized.search;
}

const SLASH = 0x2f;

// Config paths may be written decoded ("/café", "/a b"); bring them to the form request paths are compared in.
function normalizeConfigPath(path: string): string {
  const normalized = normalizePath(path, CONFIG_PATHS);
  if (typeof normalized !== "string") throw new Error(normalized.message);
  return normalized;
}

// A rewriteTarget is normalised with each request; what could never be normalised is a config error now.
function checkRewriteTarget(rewrite: string): string {
  const target = rewrite.charCodeAt(0) === SLASH ? rewrite : "/" + rewrite;
  const normalized = parseRequestTarget(target, "GET", undefined, CONFIG_PATHS);
  if (normalized instanceof RequestTargetError) throw new Error(normalized.message);
  return rewrite;
}
