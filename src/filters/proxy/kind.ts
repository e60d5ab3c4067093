import { defineFilterKind } from "../../pipeline/filter.js";
import { PROXY_RESULTS, proxyFactory } from "./index.js";
import { proxySchema } from "./spec.js";

export const proxyKind = defineFilterKind({
  name: "Proxy",
  description: "Forwards plain HTTP requests to a pool of backends, with retries and health checks.",
  schema: proxySchema,
  results: PROXY_RESULTS,
  ...proxyFactory,
});
