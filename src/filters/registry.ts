import type { z } from "zod";
import { proxyKind } from "./proxy/kind.js";
import { rateLimiterKind } from "./rate-limiter/kind.js";
import { validatorKind } from "./validator/kind.js";
import { webSocketProxyKind } from "./websocket-proxy/kind.js";
import { webSocketUpgradeCheckKind } from "./websocket-upgrade-check/kind.js";

/** Every filter kind, each declared in its own folder; the order is the reference doc's. */
const kinds = [webSocketProxyKind, proxyKind, webSocketUpgradeCheckKind, validatorKind, rateLimiterKind] as const;

type RegisteredKind = (typeof kinds)[number];

/** The value of a filter spec's `kind` field. */
export type FilterKindName = RegisteredKind["name"];

/** The filter kinds by name: what the configuration and the factories know of each (see `FilterKind`). */
export const filterRegistry = Object.fromEntries(kinds.map((kind) => [kind.name, kind])) as {
  readonly [Name in FilterKindName]: Extract<RegisteredKind, { name: Name }>;
};

export type FilterRegistryEntry<K extends FilterKindName = FilterKindName> = (typeof filterRegistry)[K];

/** A validated filter of one kind (or, without K, of any kind), defaults applied. */
export type FilterSpec<K extends FilterKindName = FilterKindName> = z.output<FilterRegistryEntry<K>["schema"]>;

export const filterKinds: readonly FilterKindName[] = kinds.map((kind) => kind.name);

export function isFilterKind(kind: string): kind is FilterKindName {
  return Object.hasOwn(filterRegistry, kind);
}

export function filterEntry<K extends FilterKindName>(kind: K): FilterRegistryEntry<K> {
  return filterRegistry[kind];
}

/** The results a filter of `kind` can return, which `jumpIf` keys must come from. */
export function filterResults(kind: FilterKindName): readonly string[] {
  return filterRegistry[kind].results;
}

/** Every filter schema, for a union discriminated on `kind`. */
export function filterSchemas(): [FilterRegistryEntry["schema"], ...FilterRegistryEntry["schema"][]] {
  const [first, ...rest] = kinds.map((kind) => kind.schema);
  if (first === undefined) throw new Error("no filter kinds registered");
  return [first, ...rest];
}
