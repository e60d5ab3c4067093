import { backendCloseCodesSchema } from "./backend-close-codes.js";
import { z } from "zod";
import {
  mainPoolIssues,
  positiveDuration,
  serverSchemaFor,
  serverTagsIssues,
  sharedPoolFields,
} from "../../upstream/pool-spec.js";
import { backendTlsIssues } from "../../upstream/tls-spec.js";
import { durationSchema } from "../../schema/duration.js";
import { docMeta } from "../../schema/doc-meta.js";
import { evenAfterOtherErrors, nameSchema } from "../../schema/common-fields.js";
import { messageRateIssues, peerLimitsSchema } from "./limits-spec.js";
import { parseOriginPattern } from "./origin-pattern.js";
import { LIFETIME_DESCRIPTION, lifetimeSchema } from "./session-lifetime.js";

/** Easegress's default message limit for WebSocketProxy, kept so configs behave the same here. */
export const DEFAULT_MAX_MSG_SIZE = 32769;

/** Schemes a backend URL may use; http and https stand for ws and wss, as in Easegress. */
const BACKEND_SCHEMES = new Set(["ws:", "wss:", "http:", "https:"]);

/** Why `text` cannot be a backend URL, or undefined when it can. */
function backendUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `invalid URL '${text}' (expected e.g. ws://127.0.0.1:9095)`;
  }
  if (!BACKEND_SCHEMES.has(url.protocol)) {
    return `unsupported URL scheme '${url.protocol.slice(0, -1)}' in '${text}' (expected ws, wss, http or https)`;
  }
  if (url.hostname === "") return `URL '${text}' has no host`;
  if (url.username !== "" || url.password !== "") return "URL must not contain credentials (user:password@)";
  return undefined;
}

/** Backend URL: http(s) is accepted as Easegress does and rewritten to ws(s), so consumers see one scheme pair. */
const backendUrlSchema = z
  .string()
  .superRefine((text, ctx) => {
    const problem = backendUrlProblem(text);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: text });
  })
  .transform((text) => text.replace(/^http(s?):/i, "ws$1:"));
docMeta.add(backendUrlSchema, { type: "URL (ws, wss, http or https)" });

const originSchema = z.string().superRefine((text, ctx) => {
  if (!URL.canParse(text)) {
    ctx.addIssue({
      code: "custom",
      message: `invalid URL '${text}' (expected e.g. http://127.0.0.1/hello)`,
      input: text,
    });
  }
});
docMeta.add(originSchema, { type: "URL" });

const originPatternSchema = z.string().superRefine((text, ctx) => {
  const pattern = parseOriginPattern(text);
  if (typeof pattern === "string") ctx.addIssue({ code: "custom", message: pattern, input: text });
});
docMeta.add(originPatternSchema, { type: "origin pattern" });

/** Message size limit in bytes: -1 means no limit, 0 would reject every message. */
const msgSizeSchema = z.int().refine((value) => value === -1 || value >= 1, {
  error: (issue) => `must be -1 (no limit) or at least 1, got ${String(issue.input)}`,
});
docMeta.add(msgSizeSchema, { type: "integer (bytes, -1 = no limit)" });

const serverSchema = serverSchemaFor(
  backendUrlSchema.describe(
    "Backend address, e.g. `ws://127.0.0.1:9095`; `http://` means `ws://`, `https://` means `wss://`.",
  ),
);

const poolSchema = z
  .strictObject({
    servers: z.array(serverSchema).min(1).describe("Backends of this pool."),
    serverTags: sharedPoolFields.serverTags,
    loadBalance: sharedPoolFields.loadBalance,
    clientMaxMsgSize: msgSizeSchema
      .optional()
      .describe("Largest message accepted from a client; overrides the filter's value."),
    serverMaxMsgSize: msgSizeSchema
      .optional()
      .describe("Largest message accepted from a backend; overrides the filter's value."),
    healthCheck: sharedPoolFields.healthCheck,
    passiveHealth: sharedPoolFields.passiveHealth,
    filter: sharedPoolFields.filter,
    tls: sharedPoolFields.tls,
    drainRemovedServers: durationSchema
      .optional()
      .describe(
        "When a reload removes a server from this pool, close that server's live sessions with 1001, spread evenly over this long (`0`: at once). Without it they run on; new sessions never go to a removed server.",
      ),
    backendCloseCodes: backendCloseCodesSchema.describe(
      "Close codes the clients get when a backend of this pool goes away: its connection lost (1011 without this), or drained (1001 without this).",
    ),
    sendProxyProtocol: z
      .enum(["v2"])
      .optional()
      .describe(
        "Start each backend connection with a PROXY protocol v2 header naming the client (the address the HTTPServer decided), before TLS on `wss://`; for backends that take it (HAProxy `accept-proxy`, nginx `proxy_protocol`). Health checks do not send it.",
      ),
    maxSessionDuration: lifetimeSchema.optional().describe(LIFETIME_DESCRIPTION),
  })
  .superRefine(serverTagsIssues)
  .superRefine(backendTlsIssues);

docMeta.add(poolSchema.shape.clientMaxMsgSize, { default: "the filter's value" });
docMeta.add(poolSchema.shape.serverMaxMsgSize, { default: "the filter's value" });

const poolsSchema = z.array(poolSchema).min(1).superRefine(mainPoolIssues, evenAfterOtherErrors);

/** Backpressure keeps a session's buffers near 100 KiB; this bound only bites when a peer stops reading. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

const webSocketProxyFields = z.strictObject({
  kind: z.literal("WebSocketProxy").describe("Filter kind."),
  name: nameSchema.describe("Filter name, unique in its pipeline; `flow` refers to it."),
  pools: poolsSchema.describe(
    "Backend pools: one main pool (without `filter`) and any number of candidate pools (with `filter`), tried in order.",
  ),
  defaultOrigin: originSchema.optional().describe("`Origin` header sent to the backend when the client sent none."),
  clientMaxMsgSize: msgSizeSchema
    .optional()
    .describe("Largest message accepted from a client, for pools that do not set it."),
  serverMaxMsgSize: msgSizeSchema
    .optional()
    .describe("Largest message accepted from a backend, for pools that do not set it."),
  pingInterval: durationSchema
    .default(0)
    .describe(
      "Time between the gateway's own pings to both the client and the backend; 0 turns them off. Their pongs are not forwarded.",
    ),
  pongTimeout: durationSchema
    .default(0)
    .describe(
      "Drop a peer (client or backend) that has not answered the gateway's ping for this long; the other side gets close 1001. 0 never drops.",
    ),
  maxInactivity: durationSchema
    .default(0)
    .describe(
      "Close both sides with 1001 when no data frame has passed in either direction for this long; 0 turns it off.",
    ),
  frameTimeout: durationSchema
    .prefault("30s")
    .describe(
      "A frame that has begun arriving (some of its header or payload) must be complete within this long, whatever `maxInactivity` says; else its sender gets close 1008 (policy violation) and the other side 1001, or the end of TCP where it already holds part of that frame. Checked every half timeout, so the cut comes between 1 and 1.5 times it. Time the gateway itself stops reading a sender (backpressure, `rateLimitAction: pause`) does not count. 0 turns it off.",
    ),
  dialTimeout: positiveDuration
    .prefault("5s")
    .describe("Time allowed to open the TCP (and TLS) connection to a backend."),
  handshakeTimeout: positiveDuration
    .prefault("10s")
    .describe("Time allowed for the backend's answer to the upgrade request."),
  drainWindow: durationSchema
    .prefault("10s")
    .describe(
      "When a reload deletes the route or pipeline of this filter's sessions, they are closed with 1001 one at a time, spread evenly over this long, so that clients do not all reconnect at once. `0` closes them all at once.",
    ),
  closeTimeout: positiveDuration
    .prefault("5s")
    .describe(
      "How long to wait for the close handshake to finish before ending TCP, and after it for the backend to close its TCP connection first (as the server of that connection, RFC 6455 7.1.1).",
    ),
  maxBufferedBytes: msgSizeSchema
    .default(DEFAULT_MAX_BUFFERED_BYTES)
    .describe(
      "Most bytes the gateway holds for one session, both directions together, while a peer reads slower than the other sends; beyond it the slow peer gets close 1008 and the other side 1001. -1 for no limit.",
    ),
  permessageDeflate: z
    .enum(["strip", "pass"])
    .default("strip")
    .describe(
      "`strip` removes compression offers (`permessage-deflate`, `x-webkit-deflate-frame`) from the client's `Sec-WebSocket-Extensions` before the backend sees them, so no compressed frame crosses and message limits count exactly the bytes each side receives. `pass` forwards them: the session may be compressed end to end, and then `clientMaxMsgSize`/`serverMaxMsgSize` count compressed bytes, so a message under the limit may inflate to far more at the receiver (32 KiB can become 32 MiB); the receiver must enforce its own limit on inflated size.",
    ),
  originPatterns: z
    .array(originPatternSchema)
    .default([])
    .describe(
      "Allowed browser origins, `[scheme://]host[:port]`: `https://*.example.com`, `https://app.example.com:8443`, `example.org` (no scheme: http or https only). With a scheme and no port, only the scheme's default port; `:*` any port; without a scheme and port, any port. `*` is one or more DNS labels. Scheme, host and port must all match, else 403; `null` and malformed origins get 403 too, and the requested host itself is not exempt (list it). Requests without `Origin` (not browsers) pass. Empty: no check.",
    ),
  maxConnections: z
    .int()
    .min(0)
    .default(0)
    .describe("Most live sessions of this filter (handshakes under way included); over it: 429. 0: no limit."),
  maxConnectionsPerIP: z
    .int()
    .min(0)
    .default(0)
    .describe(
      "Most live sessions of this filter per client IP (handshakes under way included); over it: 429. 0: no limit.",
    ),
  clientMaxMsgRate: z
    .number()
    .min(0)
    .default(0)
    .describe(
      "Data messages per second a client may send, per connection, counted per message (bursts up to one second's worth); the same as `clientLimits.messageRate: {rate: N, burst: N}`. 0: no limit.",
    ),
  clientMaxByteRate: z
    .int()
    .min(0)
    .default(0)
    .describe(
      "Bytes per second of data frames a client may send, per connection, frame headers included; checked before each frame (a frame goes once the allowance is out of debt, and may take it below zero). 0: no limit.",
    ),
  serverMaxMsgRate: z
    .number()
    .min(0)
    .default(0)
    .describe(
      "Data messages per second a backend may send, per connection, counted per message; the same as `serverLimits.messageRate: {rate: N, burst: N}`. 0: no limit.",
    ),
  serverMaxByteRate: z
    .int()
    .min(0)
    .default(0)
    .describe(
      "Bytes per second of data frames a backend may send, per connection, as `clientMaxByteRate`; 0: no limit.",
    ),
  maxSessionDuration: lifetimeSchema.optional().describe(LIFETIME_DESCRIPTION),
  rateLimitAction: z
    .enum(["pause", "close"])
    .default("pause")
    .describe(
      "What a side over its message or byte rate gets: `pause` holds its next frame at the frame boundary and stops reading it until it is back within the rate (a fast sender is slowed, not dropped; order kept); `close` closes it with 1008 `message rate exceeded` (the other side gets 1001).",
    ),
  clientLimits: peerLimitsSchema
    .optional()
    .describe(
      "What a client may send, per connection: message rate, frame size, fragments per message, ping/pong rate, text or binary. Unset: no limit beyond the message size.",
    ),
  serverLimits: peerLimitsSchema.optional().describe("What a backend may send, per connection; as `clientLimits`."),
});
docMeta.add(webSocketProxyFields.shape.clientMaxMsgSize, { default: `\`${DEFAULT_MAX_MSG_SIZE}\`` });
docMeta.add(webSocketProxyFields.shape.serverMaxMsgSize, { default: `\`${DEFAULT_MAX_MSG_SIZE}\`` });

/** The WebSocketProxy filter; each pool's message limits come out resolved (pool ?? filter ?? 32769). */
export const webSocketProxySchema = webSocketProxyFields.superRefine(messageRateIssues).transform((spec) => {
  const clientMaxMsgSize = spec.clientMaxMsgSize ?? DEFAULT_MAX_MSG_SIZE;
  const serverMaxMsgSize = spec.serverMaxMsgSize ?? DEFAULT_MAX_MSG_SIZE;
  const pools = spec.pools.map((pool) => ({
    ...pool,
    clientMaxMsgSize: pool.clientMaxMsgSize ?? clientMaxMsgSize,
    serverMaxMsgSize: pool.serverMaxMsgSize ?? serverMaxMsgSize,
  }));
  return { ...spec, clientMaxMsgSize, serverMaxMsgSize, pools };
});

export type WebSocketProxySpec = z.output<typeof webSocketProxySchema>;
export type WebSocketProxyPool = WebSocketProxySpec["pools"][number];
export type WebSocketProxyServer = WebSocketProxyPool["servers"][number];
export type WebSocketProxyHealthCheck = NonNullable<WebSocketProxyPool["healthCheck"]>;
