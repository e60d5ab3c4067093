import type { FilterFactory } from "../../pipeline/filter.js";
import type { WebSocketProxySpec } from "./spec.js";
import { WebSocketProxy } from "./websocket-proxy.js";

export const webSocketProxyFactory: FilterFactory<WebSocketProxySpec> = {
  create: (spec, deps) => new WebSocketProxy(spec, deps),
};
