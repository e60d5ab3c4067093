import { z } from "zod";
import { durationSchema } from "../schema/duration.js";
import { docMeta } from "../schema/doc-meta.js";
import {
  byteLimitSchema,
  evenAfterOtherErrors,
  httpMethodSchema,
  nameSchema,
  portSchema,
  regexpSchema,
  urlPathSchema,
} from "../schema/common-fields.js";
import { ipFilterSchema, ipOrCidrSchema } from "./ip-filter.js";
import { accessLogSchema } from "../observability/access-log-spec.js";
import { httpsCheckWhen, httpsFields, httpsIssues } from "./tls/config.js";
import { http2LimitsSchema } from "./h2/limits-spec.js";

const EASEGRESS_ONLY = "Accepted for Easegress compatibility, no effect yet.";

/** An exact host name, or one with a single `*` wildcard such as `*.example.com`. */
const hostSchema = z.string().refine((host) => host.split("*").length <= 2, {
  error: (issue) => `host '${String(issue.input)}' may contain at most one '*' wildcard`,
});

const hostMatchSchema = z
  .strictObject({
    value: z.string().min(1).describe("Host name, or a regular expression when `isRegexp` is true."),
    isRegexp: z.boolean().default(false).describe("Treat `value` as a regular expression."),
  })
  .superRefine((host, ctx) => {
    if (!host.isRegexp) return;
    const result = regexpSchema.safeParse(host.value);
    for (const issue of result.error?.issues ?? []) {
      ctx.addIssue({ code: "custom", message: issue.message, path: ["value"], input: host.value });
    }
  });

/** Header or query matcher; Easegress requires at least one of `values` and `regexp`. */
const valueMatchSchema = z
  .strictObject({
    key: z.string().min(1).describe("Header or query parameter name."),
    values: z.array(z.string()).default([]).describe("Accepted values (any one matches)."),
    regexp: regexpSchema.optional().describe("Regular expression the value must match."),
  })
  .refine((match) => match.values.length > 0 || match.regexp !== undefined, {
    error: "needs at least one of 'values' or 'regexp'",
  });

/** A path rule's conditions, in the order the router tries them. */
const PATH_CONDITIONS = ["path", "pathPrefix", "pathRegexp"] as const;

const pathRuleSchema = z
  .strictObject({
    path: urlPathSchema.optional().describe("Exact request path."),
    pathPrefix: urlPathSchema.optional().describe("Request path prefix."),
    pathRegexp: regexpSchema.optional().describe("Regular expression the request path must match."),
    rewriteTarget: z
      .string()
      .optional()
      .describe("Replacement for the matched path part (`$1` etc. with `pathRegexp`)."),
    methods: z.array(httpMethodSchema).default([]).describe("Accepted methods; empty accepts all."),
    headers: z.array(valueMatchSchema).default([]).describe("Request headers to match."),
    matchAllHeader: z.boolean().default(false).describe("Require every entry of `headers` to match, not just one."),
    queries: z.array(valueMatchSchema).default([]).describe("Query parameters to match."),
    matchAllQuery: z.boolean().default(false).describe("Require every entry of `queries` to match, not just one."),
    clientMaxBodySize: byteLimitSchema
      .optional()
      .describe("Overrides the server's `clientMaxBodySize`; -1 for no limit."),
    backend: z.string().min(1).describe("Name of the Pipeline that handles matching requests."),
    ipFilter: ipFilterSchema
      .optional()
      .describe("Client addresses allowed on this path (after the server's and the rule's); refused: 403."),
  })
  .refine(
    (rule) =>
      rule.rewriteTarget === undefined ||
      rule.path !== undefined ||
      rule.pathPrefix !== undefined ||
      rule.pathRegexp !== undefined,
    {
      error: "rewriteTarget needs one of 'path', 'pathPrefix' or 'pathRegexp'",
      path: ["rewriteTarget"],
      ...evenAfterOtherErrors,
    },
  )
  .superRefine((rule, ctx) => {
    // The router ORs the conditions (as Easegress does); written together they usually mean AND, so ask for one each.
    const given = PATH_CONDITIONS.filter((field) => rule[field] !== undefined && rule[field] !== "");
    const [first, ...rest] = given;
    for (const field of rest) {
      ctx.addIssue({
        code: "custom",
        path: [field],
        input: rule[field],
        message: `'${field}' and '${String(first)}' on one path rule: a request matching either one is routed (they are ORed, as in Easegress); give each its own entry in paths`,
      });
    }
  }, evenAfterOtherErrors);

const ruleSchema = z.strictObject({
  host: hostSchema.optional().describe("Host to match: exact, or with one `*` wildcard (`*.example.com`)."),
  hostRegexp: regexpSchema.optional().describe("Regular expression the host must match."),
  hosts: z.array(hostMatchSchema).default([]).describe("More hosts to match; any one matches."),
  paths: z.array(pathRuleSchema).default([]).describe("Path rules, tried in order."),
  ipFilter: ipFilterSchema
    .optional()
    .describe("Client addresses allowed on this rule (after the server's); refused: 403."),
});

const httpServerFields = z.strictObject({
  kind: z.literal("HTTPServer").describe("Object kind."),
  name: nameSchema.describe("Object name, unique among all objects."),
  port: portSchema.describe("TCP port to listen on."),
  address: z.string().min(1).optional().describe("Address to listen on; all interfaces when absent."),
  https: z
    .boolean()
    .default(false)
    .describe(
      "Serve TLS (`wss://`) with the certificates below; see docs/tls.md for SNI, client certificates and rotation.",
    ),
  ...httpsFields,
  http2: z
    .boolean()
    .default(false)
    .describe(
      "With `https`: serve HTTP/2 and HTTP/1.1 on this port, chosen by ALPN (`h2`, `http/1.1`); WebSockets over HTTP/2 (RFC 8441) as `http2WebSockets` says. Plaintext HTTP/2 is `h2c`.",
    ),
  h2c: z
    .boolean()
    .default(false)
    .describe(
      "Without `https`: a connection that opens with the HTTP/2 preface is served as HTTP/2 (prior knowledge, no `Upgrade: h2c`); every other connection as HTTP/1.1.",
    ),
  http2WebSockets: z
    .boolean()
    .default(true)
    .describe(
      "On HTTP/2 connections, advertise SETTINGS_ENABLE_CONNECT_PROTOCOL and carry WebSockets as extended CONNECT streams (RFC 8441). Off: HTTP/2 serves plain requests only, and browsers open their WebSockets over HTTP/1.1.",
    ),
  keepAlive: z.boolean().default(true).describe("Keep client connections open between requests."),
  keepAliveTimeout: durationSchema.prefault("60s").describe("How long an idle kept-alive connection stays open."),
  maxConnections: z
    .int()
    .min(1)
    .default(10240)
    .describe(
      "Most client connections open at once: TCP (and TLS) connections, an HTTP/2 one counting once however many streams it carries (those are `http2Limits.maxConcurrentStreams`).",
    ),
  backlog: z
    .int()
    .min(1)
    .max(65535)
    .default(4096)
    .describe(
      "Connections the kernel may hold accepted but not yet taken by the gateway (the listen queue); a reconnect storm that overflows it sees refused or delayed connections. The kernel caps it at net.core.somaxconn.",
    ),
  maxPendingHandshakesPerRoute: z
    .int()
    .min(1)
    .optional()
    .describe(
      "Most WebSocket handshakes one path rule may have waiting for its backend; more get 503 at once, so a route whose backends hang cannot take every connection.",
    ),
  maxConnectionsPerIP: z
    .int()
    .min(0)
    .optional()
    .describe(
      "Most places one client address may hold at once: requests in flight and WebSocket sessions (with their handshakes); more get 429. Over HTTP/2 each stream is a place (a request, or a WebSocket session), not the connection. The address is the one `ipFilter` judges. Behind a balancer whose address all clients share, raise it or set 0 (no limit).",
    ),
  clientMaxBodySize: byteLimitSchema.default(4194304).describe("Largest request body in bytes; -1 for no limit."),
  xForwardedFor: z
    .boolean()
    .default(false)
    .describe(
      "Take the client address from `X-Forwarded-For` when the peer is one of `trustedProxies`: the rightmost entry that is not a trusted proxy (behind an L7 balancer). Without `trustedProxies` it trusts no peer (a warning is logged). The peer's address is always appended when proxying.",
    ),
  clientHeaderTimeout: durationSchema
    .prefault("10s")
    .describe("How long a client may take to send its request headers."),
  allowBackslash: z
    .boolean()
    .default(false)
    .describe(
      "Accept `\\` in request paths and read it as `/` (as WHATWG URL parsers do) before routing; off: 400. `%5C` follows `allowEncodedSlash`.",
    ),
  allowPathParameters: z
    .boolean()
    .default(false)
    .describe(
      "Accept `;` in request paths, kept as sent (`/a;jsessionid=1`); a segment that is empty, `.` or `..` before its `;` is still refused. Off: 400.",
    ),
  allowEncodedSlash: z
    .boolean()
    .default(false)
    .describe("Accept `%2F` and `%5C` in request paths, kept encoded so that they are never separators; off: 400."),
  clientMaxHeaders: z
    .int()
    .min(1)
    .max(10000)
    .default(100)
    .describe("Most request headers a request may carry; more get 431 (never a silent cut)."),
  clientRequestTimeout: durationSchema
    .prefault("60s")
    .describe(
      "How long a client may take to send a whole request, headers and body; over it: 408 and the connection is closed. 0: no limit.",
    ),
  exposeErrors: z
    .boolean()
    .default(false)
    .describe(
      "Refusals tell clients the whole reason, backend addresses and pool and filter names included (for debugging). Off: a generic reason such as `no backend available` or `backend unreachable`; the logs keep the details either way.",
    ),
  http2Limits: http2LimitsSchema.prefault({}),
  rules: z.array(ruleSchema).default([]).describe("Routing rules, tried in order."),
  ipFilter: ipFilterSchema
    .optional()
    .describe(
      "Client addresses allowed on this server (the address `xForwardedFor` or `proxyProtocol` gives, from trusted proxies only); refused: 403.",
    ),
  accessLog: accessLogSchema.optional(),
  http3: z.boolean().optional().describe(EASEGRESS_ONLY),
  cacheSize: z.int().min(0).optional().describe(EASEGRESS_ONLY),
  tracing: z.record(z.string(), z.unknown()).optional().describe(EASEGRESS_ONLY),
  routerKind: z.string().optional().describe(EASEGRESS_ONLY),
  trustedProxies: z
    .array(ipOrCidrSchema)
    .default([])
    .describe(
      "Addresses or CIDR ranges of the proxies in front of this server. Only from these peers are `X-Forwarded-For` (with `xForwardedFor`), `X-Forwarded-Proto`/`-Host`, `Forwarded` and `X-Real-IP` kept, and PROXY headers taken; from any other peer they are removed.",
    ),
  proxyProtocol: z
    .boolean()
    .default(false)
    .describe(
      "Every connection starts with a PROXY protocol v1 or v2 header (AWS NLB, HAProxy in TCP mode) naming the client; accepted only from `trustedProxies`. A missing, malformed, late (`clientHeaderTimeout`) or untrusted one closes the connection.",
    ),
});

export const httpServerSchema = httpServerFields
  .superRefine((spec, ctx) => {
    for (const issue of httpsIssues(spec)) ctx.addIssue({ code: "custom", ...issue });
  }, httpsCheckWhen)
  .superRefine((spec, ctx) => {
    if (spec.http2 && !spec.https) {
      const message = "http2 needs https (ALPN); for plaintext HTTP/2 set h2c: true";
      ctx.addIssue({ code: "custom", path: ["http2"], message, input: spec.http2 });
    }
    if (spec.h2c && spec.https) {
      const message = "h2c is plaintext HTTP/2; with https set http2: true instead";
      ctx.addIssue({ code: "custom", path: ["h2c"], message, input: spec.h2c });
    }
  })
  .superRefine((spec, ctx) => {
    if (!spec.proxyProtocol || spec.trustedProxies.length > 0) return;
    const message = "proxyProtocol needs trustedProxies: PROXY headers are taken only from the proxies listed there";
    ctx.addIssue({ code: "custom", path: ["proxyProtocol"], message, input: spec.proxyProtocol });
  });
docMeta.add(httpServerSchema.shape.address, { default: "all interfaces" });
docMeta.add(httpServerSchema.shape.maxPendingHandshakesPerRoute, { default: "half of `maxConnections`" });
docMeta.add(httpServerSchema.shape.maxConnectionsPerIP, {
  default: "a quarter of `maxConnections`, rounded up (2560 at the default 10240)",
});

export type HTTPServerSpec = z.output<typeof httpServerSchema>;
export type HTTPServerRule = HTTPServerSpec["rules"][number];
export type HTTPServerPathRule = HTTPServerRule["paths"][number];
