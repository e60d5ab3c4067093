import type { Filter, FilterDeps, FilterFactory } from "../pipeline/filter.js";
import type { FilterKind, FilterSpec } from "./registry.js";
import { rateLimiterFactory } from "./rate-limiter/index.js";
import { validatorFactory } from "./validator/index.js";
import { webSocketUpgradeCheckFactory } from "./websocket-upgrade-check/index.js";
import { webSocketProxyFactory } from "./websocket-proxy/index.js";
import { proxyFactory } from "./proxy/index.js";

/** How each filter kind is built at run time; the type makes a kind without a factory a compile error. */
export const filterFactories: { [K in FilterKind]: FilterFactory<FilterSpec<K>> } = {
  WebSocketProxy: webSocketProxyFactory,
  Proxy: proxyFactory,
  WebSocketUpgradeCheck: webSocketUpgradeCheckFactory,
  Validator: validatorFactory,
  RateLimiter: rateLimiterFactory,
};

/**
 * Builds a filter; with `previous` (the same-named filter of the config being replaced, on a reload) a kind that can
 * inherit takes over its state, others start afresh.
 */
export function buildFilter(spec: FilterSpec, deps: FilterDeps, previous?: Filter): Filter {
  // The table is keyed by kind, so the factory found always takes this spec.
  const factory = filterFactories[spec.kind] as FilterFactory<FilterSpec>;
  if (previous !== undefined && previous.kind === spec.kind && factory.inherit !== undefined) {
    return factory.inherit(spec, deps, previous);
  }
  return factory.create(spec, deps);
}
