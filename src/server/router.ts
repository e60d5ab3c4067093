// HTTPServer routing with Easegress semantics: rules in order, first host+path match wins.
import type { IncomingHttpHeaders } from "node:http";
import { compileHostPattern, compileHostRegexp, normalizeRequestHost } from "./host-pattern.js";
import type { HostMatcher } from "./host-pattern.js";
import type { HeaderMatchSpec, PathRuleSpec, RouteRuleSpec } from "./route-spec.js";

export interface RouteRequest {
  method: string;
  /** Raw Host header: may carry a port, may be a bracketed IPv6 address. */
  host: string | undefined;
  /** Raw request target: origin-form path + query, or absolute-form. */
  url: string;
  headers: IncomingHttpHeaders;
}

export interface RouteMatch {
  backend: string;
  /** Path + query to send upstream: the origin-form target, rewritten when the path rule says so. */
  target: string;
  ruleIndex: number;
  pathIndex: number;
  clientMaxBodySize: number | undefined;
}

/**
 * Routes requests to backends. Paths are compared in RFC 3986 normal form (escapes of unreserved
 * characters decoded, other escapes with uppercase hex, never throwing); rule paths are normalized the same way.
 * Header and query conditions see a missing value as "" (as Easegress does).
 */
export class Router {
  readonly #rules: readonly CompiledRule[];
  readonly #needsHost: boolean;

  constructor(rules: readonly RouteRuleSpec[]) {
    this.#rules = rules.map((rule, ruleIndex) => compileRule(rule, ruleIndex));
    this.#needsHost = this.#rules.some((rule) => rule.hosts.length > 0);
  }

  match(request: RouteRequest): RouteMatch | undefined {
    const target = parseRequestTarget(request.url);
    if (target === undefined) return undefined;
    const host = this.#needsHost ? normalizeRequestHost(request.host) : undefined;
    const path = normalizePath(target.path);
    let query: URLSearchParams | undefined;
    for (const rule of this.#rules) {
      if (!hostMatches(rule.hosts, host)) continue;
      for (const candidate of rule.paths) {
        if (candidate.methods !== undefined && !candidate.methods.has(request.method)) continue;
        const how = pathMatch(candidate, path);
        if (how === undefined) continue;
        if (!valuesMatch(candidate.headers, candidate.matchAllHeaders, request.headers, headerValue)) continue;
        if (candidate.queries.length > 0) {
          query ??= new URLSearchParams(target.query);
          if (!valuesMatch(candidate.queries, candidate.matchAllQueries, query, queryValue)) continue;
        }
        return {
          backend: candidate.backend,
          target: rewrittenTarget(candidate, how, path, target),
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
  backend: string;
}

interface ValueCondition {
  key: string;
  values: ReadonlySet<string> | undefined;
  regexp: RegExp | undefined;
}

/** Which path condition held; decides how rewriteTarget applies. */
type PathMatchKind = "exact" | "prefix" | "regexp" | "any";

interface RequestTarget {
  /** Raw path, never empty, without query or fragment. */
  path: string;
  /** Query without the leading "?". */
  query: string;
  /** "?query" exactly as received, or "" when there is none. */
  querySuffix: string;
  /** What to send upstream when nothing is rewritten. */
  originForm: string;
}

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
      ? withLocation(`${where}.rewriteTarget`, encodeUnsafeCharacters, rewriteTarget)
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
    backend: spec.backend,
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

function rewrittenTarget(candidate: CompiledPath, how: PathMatchKind, path: string, target: RequestTarget): string {
  const rewrite = candidate.rewriteTarget;
  if (rewrite === undefined || how === "any") return target.originForm;
  let rewritten: string;
  if (how === "exact") rewritten = rewrite;
  else if (how === "prefix") rewritten = rewrite + path.slice(candidate.prefix?.length ?? 0);
  else rewritten = candidate.regexp === undefined ? path : path.replace(candidate.regexp, rewrite);
  // A regexp replacement can eat the leading slash; an upstream request target needs it.
  if (rewritten.charCodeAt(0) !== SLASH) rewritten = "/" + rewritten;
  return rewritten + target.querySuffix;
}

const SLASH = 0x2f;
const ABSOLUTE_FORM = /^(?:https?|wss?):\/\/[^/?#]+/i;

// Origin-form ("/p?q") or absolute-form ("http://h/p?q", routed by its path); "*", "", authority-form: unroutable.
function parseRequestTarget(url: string): RequestTarget | undefined {
  let start = 0;
  if (url.charCodeAt(0) !== SLASH) {
    const scheme = ABSOLUTE_FORM.exec(url);
    if (scheme === null) return undefined;
    start = scheme[0].length;
  }
  let pathEnd = start;
  while (pathEnd < url.length) {
    const code = url.charCodeAt(pathEnd);
    if (code === 0x3f /* ? */ || code === 0x23 /* # */) break;
    pathEnd++;
  }
  let query = "";
  let querySuffix = "";
  if (url.charCodeAt(pathEnd) === 0x3f) {
    const hash = url.indexOf("#", pathEnd);
    const queryEnd = hash < 0 ? url.length : hash;
    query = url.slice(pathEnd + 1, queryEnd);
    querySuffix = url.slice(pathEnd, queryEnd);
  }
  if (start === 0) return { path: url.slice(0, pathEnd), query, querySuffix, originForm: url };
  // Absolute-form without a path ("http://h?q") still addresses "/".
  const emptyPath = pathEnd === start;
  return {
    path: emptyPath ? "/" : url.slice(start, pathEnd),
    query,
    querySuffix,
    originForm: emptyPath ? "/" + url.slice(start) : url.slice(start),
  };
}

const HEX_DIGITS = "0123456789ABCDEF";

/** RFC 3986 §6.2.2 normalization: decode escapes of unreserved characters, uppercase others, keep malformed ones. */
function normalizePath(path: string): string {
  let percent = path.indexOf("%");
  if (percent < 0) return path;
  let normalized = "";
  let copied = 0;
  while (percent >= 0) {
    const high = hexValue(path.charCodeAt(percent + 1));
    const low = hexValue(path.charCodeAt(percent + 2));
    if (high >= 0 && low >= 0) {
      const byte = high * 16 + low;
      normalized += path.slice(copied, percent);
      normalized += isUnreserved(byte)
        ? String.fromCharCode(byte)
        : "%" + HEX_DIGITS.charAt(high) + HEX_DIGITS.charAt(low);
      copied = percent + 3;
    }
    percent = path.indexOf("%", percent + 1);
  }
  return normalized + path.slice(copied);
}

// Config paths may be written decoded ("/café", "/a b"); bring them to the form request paths are compared in.
function normalizeConfigPath(path: string): string {
  return normalizePath(encodeUnsafeCharacters(path));
}

/** Percent-encodes (as UTF-8) what may not appear raw in a request target: controls, space, non-ASCII. */
function encodeUnsafeCharacters(text: string): string {
  let encoded = "";
  for (const character of text) {
    const code = character.charCodeAt(0);
    encoded += code <= 0x20 || code >= 0x7f ? encodeURIComponent(character) : character;
  }
  return encoded;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

// ALPHA / DIGIT / "-" / "." / "_" / "~"
function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d ||
    byte === 0x2e ||
    byte === 0x5f ||
    byte === 0x7e
  );
}
