import type { z } from "zod";
import type { Filter, FilterDeps, FilterKind } from "../pipeline/filter.js";
import { filterRegistry, type FilterSpec } from "./registry.js";

/**
 * Builds a filter from its kind; with `previous` (the same-named filter of the config being replaced, on a reload) a
 * kind that can inherit takes over its state, others start afresh.
 */
export function buildFilter(spec: FilterSpec, deps: FilterDeps, previous?: Filter): Filter {
  // The registry is keyed by kind, so the kind found always takes this spec.
  const kind = filterRegistry[spec.kind] as FilterKind<string, z.ZodType<FilterSpec>>;
  if (previous !== undefined && previous.kind === spec.kind && kind.inherit !== undefined) {
    return kind.inherit(spec, deps, previous);
  }
  return kind.create(spec, deps);
}
