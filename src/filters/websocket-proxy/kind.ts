import { defineFilterKind } from "../../pipeline/filter.js";
import { webSocketProxyFactory } from "./index.js";
import { webSocketProxySchema } from "./spec.js";

export const webSocketProxyKind = defineFilterKind({
  name: "WebSocketProxy",
  description:
    "Opens a WebSocket session to a backend of its pools and relays it, with limits, retries and health checks.",
  schema: webSocketProxySchema,
  // clientError: a handshake it refuses itself (origin, limits); serverError: no backend took the session.
  results: ["clientError", "serverError"],
  ...webSocketProxyFactory,
});
