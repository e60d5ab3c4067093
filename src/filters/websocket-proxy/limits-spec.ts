import { z } from "zod";
import { docMeta } from "../../schema/doc-meta.js";

/** A token bucket as nginx's `limit_req` spells it: `rate` per second, `burst` at once. */
const bucketSchema = z
  .strictObject({
    rate: z.number().positive().describe("Tokens per second (messages, or pings and pongs)."),
    burst: z
      .int()
      .min(1)
      .optional()
      .describe("How many may go at once above the rate: the bucket's size, full at the start of a session."),
  })
  .transform((bucket) => ({ rate: bucket.rate, burst: bucket.burst ?? Math.max(1, Math.ceil(bucket.rate)) }));
docMeta.add(bucketSchema.in.shape.rate, { type: "number > 0" });
docMeta.add(bucketSchema.in.shape.burst, { default: "`rate`, rounded up (one second's worth)" });

const frameSizeSchema = z.int().refine((value) => value === -1 || value >= 0, {
  error: (issue) => `must be -1 (no limit) or at least 0, got ${String(issue.input)}`,
});
docMeta.add(frameSizeSchema, { type: "integer (bytes, -1 = no limit)" });

/** What one peer (every client, or every backend) may send, beyond RFC 6455; all checked per frame, nothing buffered. */
export const peerLimitsSchema = z.strictObject({
  messageRate: bucketSchema
    .optional()
    .describe(
      "Data messages per second (`rate`, > 0) with `burst` at once (an integer ≥ 1, default one second's worth: `rate` rounded up), counted per message whatever the TCP segmentation, as nginx's `limit_req rate= burst= nodelay`. Over it, `rateLimitAction`: `pause` holds the next message at its frame boundary and stops reading the peer until a token is back (nothing dropped, order kept); `close` sends the peer 1008 `message rate exceeded` and the other side 1001.",
    ),
  maxFrameSize: frameSizeSchema
    .default(-1)
    .describe(
      "Most payload bytes in one data frame, checked on its header; over it: 1009 `frame too big` to the peer, 1001 to the other side. -1: no limit (the message limits still apply).",
    ),
  maxFragmentsPerMessage: z
    .int()
    .min(0)
    .default(0)
    .describe(
      "Most frames one data message may come in (first frame and continuations); over it: 1008 `too many fragments` (the message may be small: a size code would mislead), 1001 to the other side. 0: no limit.",
    ),
  controlFrameRate: bucketSchema
    .optional()
    .describe(
      "Pings and pongs per second the peer may send (`rate`; close frames not counted), with `burst` at once (default `rate` rounded up); over it: 1008 `control frame rate exceeded`, 1001 to the other side. Pongs answering the gateway's own pings count too.",
    ),
  allowText: z
    .boolean()
    .default(true)
    .describe("Text messages may come from the peer; else 1003 `text messages not accepted`, 1001 to the other side."),
  allowBinary: z
    .boolean()
    .default(true)
    .describe(
      "Binary messages may come from the peer; else 1003 `binary messages not accepted`, 1001 to the other side.",
    ),
});

export type PeerLimits = z.output<typeof peerLimitsSchema>;

/** The legacy `clientMaxMsgRate` and `clientLimits.messageRate` say the same thing: one of them. */
export function messageRateIssues(
  spec: {
    clientMaxMsgRate: number;
    serverMaxMsgRate: number;
    clientLimits?: { messageRate?: unknown } | undefined;
    serverLimits?: { messageRate?: unknown } | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  if (spec.clientMaxMsgRate > 0 && spec.clientLimits?.messageRate !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["clientLimits", "messageRate"],
      message: "set either clientMaxMsgRate or clientLimits.messageRate, not both",
    });
  }
  if (spec.serverMaxMsgRate > 0 && spec.serverLimits?.messageRate !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["serverLimits", "messageRate"],
      message: "set either serverMaxMsgRate or serverLimits.messageRate, not both",
    });
  }
}
