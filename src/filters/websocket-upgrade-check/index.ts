import { z } from "zod";
import { BadHandshakeError, GatewayError, UpgradeRequiredError } from "../../errors.js";
import { nameSchema } from "../../schema/common-fields.js";
import type { RequestContext } from "../../pipeline/context.js";
import type { Filter, FilterFactory } from "../../pipeline/filter.js";
import { checkClientUpgrade } from "../../websocket/handshake.js";

export const webSocketUpgradeCheckSchema = z.strictObject({
  kind: z.literal("WebSocketUpgradeCheck").describe("Filter kind."),
  name: nameSchema.describe("Filter name, unique in its pipeline; `flow` refers to it."),
});

export type WebSocketUpgradeCheckSpec = z.output<typeof webSocketUpgradeCheckSchema>;

/** The result returned when the request is not a valid WebSocket upgrade (it has been answered). */
export const UPGRADE_CHECK_RESULTS = ["invalid"] as const;

/**
 * Lets only valid WebSocket upgrades on: plain HTTP gets 426 with `Upgrade: websocket`, a malformed handshake 400
 * (405 for a method other than GET, 426 with `Sec-WebSocket-Version: 13` for another version).
 */
export class WebSocketUpgradeCheck implements Filter {
  readonly kind = "WebSocketUpgradeCheck";
  constructor(readonly name: string) {}

  handle(context: RequestContext): string {
    const problem = problemOf(context);
    if (problem === undefined) return "";
    context.reject(problem);
    return "invalid";
  }

  close(): void {}
}

function problemOf(context: RequestContext): GatewayError | undefined {
  if (context.kind === "request") {
    // An Upgrade header without "Connection: upgrade" arrives as a plain request: malformed, not plain HTTP.
    return context.req.headers.upgrade !== undefined
      ? new BadHandshakeError("the Connection header must include 'Upgrade'")
      : new UpgradeRequiredError();
  }
  const upgrade = checkClientUpgrade(context.req);
  return upgrade instanceof GatewayError ? upgrade : undefined;
}

export const webSocketUpgradeCheckFactory: FilterFactory<WebSocketUpgradeCheckSpec> = {
  create: (spec) => new WebSocketUpgradeCheck(spec.name),
};
