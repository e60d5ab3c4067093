import { z } from "zod";
import { nameSchema } from "../../schema/common-fields.js";
import type { RequestContext } from "../../pipeline/context.js";
import type { Filter, FilterFactory, FilterResult } from "../../pipeline/filter.js";
import { upgradeVerdict } from "../../websocket/handshake.js";

export const webSocketUpgradeCheckSchema = z.strictObject({
  kind: z.literal("WebSocketUpgradeCheck").describe("Filter kind."),
  name: nameSchema.describe("Filter name, unique in its pipeline; `flow` refers to it."),
});

export type WebSocketUpgradeCheckSpec = z.output<typeof webSocketUpgradeCheckSchema>;

/** The result returned when the request is not a valid WebSocket upgrade, with the refusal prepared for it. */
export const UPGRADE_CHECK_RESULTS = ["invalid"] as const;

/**
 * Lets only valid WebSocket upgrades on: plain HTTP gets 426 with `Upgrade: websocket`, a malformed handshake 400
 * (405 for a method other than GET, 426 with `Sec-WebSocket-Version: 13` for another version).
 */
export class WebSocketUpgradeCheck implements Filter {
  readonly kind = "WebSocketUpgradeCheck";
  constructor(readonly name: string) {}

  handle(context: RequestContext): FilterResult {
    const verdict = upgradeVerdict(context.req, context.kind === "upgrade");
    if (verdict.kind === "websocket") return "";
    return { result: "invalid", error: verdict.error };
  }

  close(): void {}
}

export const webSocketUpgradeCheckFactory: FilterFactory<WebSocketUpgradeCheckSpec> = {
  create: (spec) => new WebSocketUpgradeCheck(spec.name),
};
