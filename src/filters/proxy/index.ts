import type { FilterFactory } from "../../pipeline/filter.js";
import { HttpProxy } from "./proxy.js";
import type { ProxySpec } from "./spec.js";

/** What a Proxy returns for `jumpIf`: its own refusals (413, an upgrade), the backend's failures, `failureCodes`. */
export const PROXY_RESULTS = ["clientError", "serverError", "failureCode"] as const;

export const proxyFactory: FilterFactory<ProxySpec> = {
  create: (spec, deps) => new HttpProxy(spec, deps),
};
