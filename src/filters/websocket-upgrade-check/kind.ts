import { defineFilterKind } from "../../pipeline/filter.js";
import { UPGRADE_CHECK_RESULTS, webSocketUpgradeCheckFactory, webSocketUpgradeCheckSchema } from "./index.js";

export const webSocketUpgradeCheckKind = defineFilterKind({
  name: "WebSocketUpgradeCheck",
  description: "Lets only valid WebSocket upgrades on: 426 for plain HTTP, 400/405/426 for a malformed handshake.",
  schema: webSocketUpgradeCheckSchema,
  results: UPGRADE_CHECK_RESULTS,
  ...webSocketUpgradeCheckFactory,
});
