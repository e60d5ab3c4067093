// The `accessLog` block of an HTTPServer: where its access lines go and which fields they carry.
import { z } from "zod";
import { docMeta } from "../schema/doc-meta.js";

/** Every field an access line can carry, in the order a line shows them when `fields` is not given. */
export const ACCESS_LOG_FIELDS = [
  "time",
  "event",
  "server",
  "route",
  "pipeline",
  "method",
  "path",
  "status",
  "durationMs",
  "clientIp",
  "backend",
  "bytesIn",
  "bytesOut",
  "messagesIn",
  "messagesOut",
  "largestIn",
  "largestOut",
  "closeCode",
  "closeReason",
  "closedBy",
  "reason",
  "code",
  "userAgent",
  "requestId",
  "session",
  "transport",
] as const;

export type AccessLogField = (typeof ACCESS_LOG_FIELDS)[number];

export const accessLogSchema = z
  .strictObject({
    target: z
      .string()
      .min(1)
      .default("stdout")
      .describe("`stdout`, `stderr`, or a file path (appended to; reopened on SIGUSR1, for logrotate)."),
    format: z.literal("json").default("json").describe("Line format: `json` (one JSON object a line)."),
    fields: z
      .array(z.enum(ACCESS_LOG_FIELDS))
      .min(1)
      .default([...ACCESS_LOG_FIELDS])
      .describe(
        "Fields of each line, in this order; a field that does not apply to a line is left out. `event`: " +
          "`http_request`, `websocket_session` (at its end) or `websocket_rejected`. `time`: ISO time of the line. " +
          "`route`: the route, host then path (e.g. `*/ws`). `status`: HTTP status (101 for a session; 499 when the " +
          "client left before the answer). `bytesIn`/`bytesOut`, `messagesIn`/`messagesOut`: what the client sent " +
          "and received (WebSocket: frame bytes and data messages; HTTP: bytes read and written on the " +
          "connection). `largestIn`/`largestOut`: payload bytes of the largest message the client sent and " +
          "received (WebSocket sessions). `closeCode`, `closeReason`, `closedBy` (`client`, `backend`, `gateway`): how a session " +
          "ended. `reason`, `code`: why the gateway refused or failed a request. `requestId`: the `X-Request-Id` " +
          "header. `session`: the session id the admin API shows. `transport`: `h1`, or `h2` for a request or " +
          "WebSocket over HTTP/2 (whose accepted session shows status 200, its `:status`).",
      ),
  })
  .describe(
    "Access log: one JSON line per HTTP request, per WebSocket session (at its end) and per refused handshake. " +
      "Absent: no access log (session ends are still in the main log).",
  );

export type AccessLogSpec = z.output<typeof accessLogSchema>;
docMeta.add(accessLogSchema.shape.fields, { default: "all of them, in the order above" });
