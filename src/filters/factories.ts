import type { FilterFactory } from "../pipeline/filter.js";
import type { FilterKind, FilterSpec } from "./registry.js";
import { webSocketProxyFactory } from "./websocket-proxy/index.js";

/** How each filter kind is built at run time; the type makes a kind without a factory a compile error. */
export const filterFactories: { [K in FilterKind]: FilterFactory<FilterSpec<K>> } = {
  WebSocketProxy: webSocketProxyFactory,
};
