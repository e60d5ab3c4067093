import type { z } from "zod";
import { RATE_LIMITER_RESULTS } from "./rate-limiter/index.js";
import { rateLimiterSchema } from "./rate-limiter/spec.js";
import { VALIDATOR_RESULTS } from "./validator/index.js";
import { validatorSchema } from "./validator/spec.js";
import { UPGRADE_CHECK_RESULTS, webSocketUpgradeCheckSchema } from "./websocket-upgrade-check/index.js";
import { webSocketProxySchema } from "./websocket-proxy/spec.js";
import { PROXY_RESULTS } from "./proxy/index.js";
import { proxySchema } from "./proxy/spec.js";

/**
 * Filter kinds known to the configuration, keyed by `kind`. `results` lists what a filter may return for `jumpIf`.
 */
export const filterRegistry = {
  WebSocketProxy: { schema: webSocketProxySchema, results: ["clientError", "serverError"] as const },
  Proxy: { schema: proxySchema, results: PROXY_RESULTS },
  WebSocketUpgradeCheck: { schema: webSocketUpgradeCheckSchema, results: UPGRADE_CHECK_RESULTS },
  Validator: { schema: validatorSchema, results: VALIDATOR_RESULTS },
  RateLimiter: { schema: rateLimiterSchema, results: RATE_LIMITER_RESULTS },
} as const;

export type FilterKind = keyof typeof filterRegistry;

export type FilterRegistryEntry<K extends FilterKind = FilterKind> = (typeof filterRegistry)[K];

/** A validated filter of one kind (or, without K, of any kind), defaults applied. */
export type FilterSpec<K extends FilterKind = FilterKind> = z.output<FilterRegistryEntry<K>["schema"]>;

export const filterKinds = Object.keys(filterRegistry) as FilterKind[];

export function isFilterKind(kind: string): kind is FilterKind {
  return Object.hasOwn(filterRegistry, kind);
}

export function filterEntry<K extends FilterKind>(kind: K): FilterRegistryEntry<K> {
  return filterRegistry[kind];
}

/** The results a filter of `kind` can return, which `jumpIf` keys must come from. */
export function filterResults(kind: FilterKind): readonly string[] {
  return filterRegistry[kind].results;
}

/** Every filter schema, for a union discriminated on `kind`. */
export function filterSchemas(): [FilterRegistryEntry["schema"], ...FilterRegistryEntry["schema"][]] {
  const [first, ...rest] = filterKinds.map((kind) => filterRegistry[kind].schema);
  if (first === undefined) throw new Error("no filter kinds registered");
  return [first, ...rest];
}
