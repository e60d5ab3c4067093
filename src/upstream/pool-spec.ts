// The pool schema WebSocketProxy and Proxy share: servers, serverTags, loadBalance, healthCheck, passiveHealth,
// filter (candidate pools) and tls. Each kind adds its own backend URL scheme and its own per-pool fields.
import { z } from "zod";
import { docMeta } from "../schema/doc-meta.js";
import { markField } from "../schema/marked-fields.js";
import { durationSchema } from "../schema/duration.js";
import {
  evenAfterOtherErrors,
  httpMethodSchema,
  portSchema,
  regexpProblem,
  regexpSchema,
  urlPathSchema,
} from "../schema/common-fields.js";
import { LOAD_BALANCE_POLICIES } from "./balance-types.js";
import { REQUEST_MATCHER_POLICIES } from "./request-matcher.js";
import { STICKY_SESSION_MODES } from "./sticky-session.js";
import { backendTlsSchema } from "./tls-spec.js";

export const positiveDuration = durationSchema.refine((ms) => ms > 0, { error: "must be greater than 0" });

/**
 * A server entry of a pool; `url` is the kind's own backend URL schema (ws(s) for WebSocketProxy, http(s) for Proxy),
 * described by the caller.
 */
export function serverSchemaFor<Url extends z.ZodType<string, string>>(url: Url) {
  return z.strictObject({
    // The gateway connects there (traffic and health checks): it must not be the admin listener.
    url: markField(url, "outboundUrl"),
    weight: z
      .int()
      .min(0)
      .default(0)
      .describe(
        "Relative share of new connections (every policy that can weigh honours it); 0 on every server means equal weights, and a 0 beside positive weights makes a standby server, used only when no weighted server is left.",
      ),
    keepHost: z
      .boolean()
      .default(false)
      .describe("Send the client's `Host` header to this backend instead of the backend's own."),
    tags: z.array(z.string()).default([]).describe("Labels that the pool's `serverTags` select on."),
    tls: backendTlsSchema
      .optional()
      .describe("TLS settings for this TLS (wss:// or https://) server, field by field over the pool's `tls`."),
  });
}

/** A cookie name as RFC 6265 allows it (an HTTP token). */
const cookieNameSchema = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, {
  error: (issue) =>
    issue.input === undefined
      ? undefined
      : `invalid cookie name '${String(issue.input)}' (letters, digits and !#$%&'*+-.^_\`|~)`,
});

const stickySessionSchema = z
  .strictObject({
    mode: z
      .enum(STICKY_SESSION_MODES)
      .describe("How a client finds its server again; `CookieConsistentHash` puts a cookie on a consistent-hash ring."),
    appCookieName: cookieNameSchema
      .optional()
      .describe("An application cookie (a session id) whose value is hashed when the gateway's own cookie is absent."),
    lbCookieName: cookieNameSchema
      .optional()
      .describe(
        "Cookie the gateway sets on the 101 response, naming the server's place on the ring; sent back on reconnect, it brings the client to the same server.",
      ),
    lbCookieExpire: positiveDuration
      .prefault("2h")
      .describe("Lifetime of the gateway's cookie (`Max-Age` and `Expires`), renewed on every connection."),
  })
  .refine((sticky) => sticky.lbCookieName !== undefined || sticky.appCookieName !== undefined, {
    error: "needs 'lbCookieName' (the gateway sets the cookie) or 'appCookieName' (the application sets it)",
    ...evenAfterOtherErrors,
  });

export const loadBalanceSchema = z
  .strictObject({
    policy: z
      .enum(LOAD_BALANCE_POLICIES)
      .default("roundRobin")
      .describe("How a server is chosen for each new connection."),
    headerHashKey: z
      .string()
      .min(1)
      .optional()
      .describe("Request header whose value is hashed; required by `headerHash`."),
    cookieHashKey: cookieNameSchema
      .optional()
      .describe("Cookie whose value is hashed; required by `cookieHash`. Requests without it hash the client address."),
    stickySession: stickySessionSchema
      .optional()
      .describe(
        "Sends a returning client to the server it had, whatever the policy; the policy chooses for new clients.",
      ),
  })
  .refine((lb) => lb.policy !== "headerHash" || lb.headerHashKey !== undefined, {
    error: "required when policy is headerHash",
    path: ["headerHashKey"],
    ...evenAfterOtherErrors,
  })
  .refine((lb) => lb.policy !== "cookieHash" || lb.cookieHashKey !== undefined, {
    error: "required when policy is cookieHash",
    path: ["cookieHashKey"],
    ...evenAfterOtherErrors,
  });

const statusCodeSchema = z.int().min(100).max(599);

const statusRangeSchema = z.tuple([statusCodeSchema, statusCodeSchema]).refine(([low, high]) => low <= high, {
  error: (issue) => `status code range ${JSON.stringify(issue.input)} has its low end above its high end`,
});
docMeta.add(statusRangeSchema, { type: "[low, high] status codes" });

const headerMatchSchema = z
  .strictObject({
    name: z.string().min(1).describe("Response header name."),
    value: z.string().default("").describe("Expected value; empty matches any value, but the header must be present."),
    type: z.enum(["exact", "regexp"]).default("exact").describe("How `value` is compared."),
  })
  .superRefine((match, ctx) => {
    const problem = match.type === "regexp" ? regexpProblem(match.value) : undefined;
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, path: ["value"], input: match.value });
  });

const bodyMatchSchema = z
  .strictObject({
    value: z.string().describe("Text the response body must contain, or a regular expression it must match."),
    type: z.enum(["contains", "regexp"]).default("contains").describe("How `value` is compared."),
  })
  .superRefine((match, ctx) => {
    const problem = match.type === "regexp" ? regexpProblem(match.value) : undefined;
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, path: ["value"], input: match.value });
  });

const checkHeadersSchema = z
  .record(z.string(), z.string())
  .default({})
  .describe("Request headers sent with the check.");

const wsCheckSchema = z.strictObject({
  port: portSchema.optional().describe("Port to check; defaults to the server's port."),
  uri: urlPathSchema.optional().describe("Path (and query) of the check request; defaults to the server URL's path."),
  headers: checkHeadersSchema,
  match: z
    .strictObject({
      statusCodes: z
        .array(statusRangeSchema)
        .min(1)
        .default([[101, 101]])
        .describe("Accepted status code ranges."),
      headers: z.array(headerMatchSchema).default([]).describe("Response headers that must match."),
    })
    .prefault({})
    .describe("What a healthy answer looks like."),
});

const httpCheckSchema = z.strictObject({
  port: portSchema.optional().describe("Port to check; defaults to the server's port."),
  uri: urlPathSchema.optional().describe("Path (and query) of the check request; defaults to the server URL's path."),
  method: httpMethodSchema.default("GET").describe("Request method."),
  headers: checkHeadersSchema,
  body: z.string().optional().describe("Request body."),
  username: z.string().optional().describe("Basic authentication user name."),
  password: markField(z.string().optional().describe("Basic authentication password."), "secret"),
  match: z
    .strictObject({
      statusCodes: z
        .array(statusRangeSchema)
        .min(1)
        .default([[200, 399]])
        .describe("Accepted status code ranges."),
      headers: z.array(headerMatchSchema).default([]).describe("Response headers that must match."),
      body: bodyMatchSchema.optional().describe("What the response body must contain or match."),
    })
    .prefault({})
    .describe("What a healthy answer looks like."),
});

const passSchema = z.int().min(1);
docMeta.add(passSchema, { default: "`1`" });

const drainSessionsSchema = z.strictObject({
  after: durationSchema
    .prefault("10s")
    .describe("Grace period: how long the sessions keep running after their server turns unhealthy."),
  over: durationSchema
    .prefault("30s")
    .describe("The sessions are then closed with 1001, one at a time, spread evenly over this long."),
});

export const healthCheckSchema = z
  .strictObject({
    interval: positiveDuration.prefault("60s").describe("Time between two checks of a server."),
    timeout: positiveDuration.prefault("3s").describe("How long a check may take before it counts as failed."),
    fails: z.int().min(1).default(1).describe("Consecutive failures that mark a server unhealthy."),
    pass: passSchema.optional().describe("Consecutive successes that mark an unhealthy server healthy again."),
    passes: z.int().min(1).optional().describe("Synonym of `pass`, as some Easegress versions spell it."),
    ws: wsCheckSchema.optional().describe("WebSocket check: an upgrade request that must succeed."),
    http: httpCheckSchema.optional().describe("HTTP check: a plain request whose answer must match."),
    drainSessions: drainSessionsSchema
      .optional()
      .describe(
        "Close the live sessions of a server that turns unhealthy; without it they run on (WebSocket sessions are long).",
      ),
  })
  .superRefine((check, ctx) => {
    if (check.pass !== undefined && check.passes !== undefined) {
      ctx.addIssue({ code: "custom", message: "'pass' and 'passes' mean the same; give only one", path: ["passes"] });
    }
    if (check.ws === undefined && check.http === undefined) {
      ctx.addIssue({ code: "custom", message: "needs at least one of 'ws' or 'http'" });
    }
  }, evenAfterOtherErrors)
  .transform(({ pass, passes, ...check }) => ({ ...check, pass: pass ?? passes ?? 1 }));

const stringMatcherSchema = z
  .strictObject({
    exact: z.string().optional().describe("Matches this value exactly."),
    prefix: z.string().optional().describe("Matches values that start with this."),
    regex: regexpSchema.optional().describe("Matches values this regular expression finds a match in."),
    empty: z.boolean().optional().describe("Matches an empty value (for a header: absent or empty)."),
  })
  .superRefine((matcher, ctx) => {
    const patterns = [matcher.exact, matcher.prefix, matcher.regex].filter(
      (value) => value !== undefined && value !== "",
    );
    if (matcher.empty === true && patterns.length > 0) {
      ctx.addIssue({ code: "custom", message: "'empty' cannot be combined with 'exact', 'prefix' or 'regex'" });
    } else if (matcher.empty !== true && patterns.length === 0) {
      ctx.addIssue({ code: "custom", message: "needs one of 'exact', 'prefix', 'regex' or 'empty: true'" });
    }
  }, evenAfterOtherErrors);

const urlMatcherSchema = z.strictObject({
  methods: z.array(httpMethodSchema).default([]).describe("Accepted methods; empty accepts all."),
  url: stringMatcherSchema.describe("Test on the request path (after `rewriteTarget`, without the query)."),
});

export const requestMatcherSchema = z
  .strictObject({
    policy: z
      .enum(REQUEST_MATCHER_POLICIES)
      .default("general")
      .describe(
        "`general` matches `headers` and `urls`; `ipHash`, `headerHash` and `random` take `permil` of the connections, chosen by client address, by a header's value or by chance.",
      ),
    headers: z
      .record(z.string().min(1), stringMatcherSchema)
      .default({})
      .describe("Header name → test; one matching header is enough unless `matchAllHeaders`."),
    matchAllHeaders: z.boolean().default(false).describe("Every entry of `headers` must match."),
    urls: z
      .array(urlMatcherSchema)
      .default([])
      .describe("Method and path tests; one must match, on top of `headers`, when any are given."),
    permil: z
      .int()
      .min(0)
      .max(1000)
      .default(0)
      .describe("Thousandths of the connections the pool takes, for `ipHash`, `headerHash` and `random`."),
    headerHashKey: z.string().min(1).optional().describe("Header whose value is hashed; required by `headerHash`."),
  })
  .superRefine((filter, ctx) => {
    if (filter.policy === "general") {
      if (Object.keys(filter.headers).length === 0 && filter.urls.length === 0) {
        ctx.addIssue({ code: "custom", message: "policy general needs 'headers' or 'urls'" });
      }
      return;
    }
    if (filter.permil === 0) {
      ctx.addIssue({
        code: "custom",
        message: `policy ${filter.policy} needs permil (1–1000, the share of connections this pool takes)`,
        path: ["permil"],
      });
    }
    if (filter.policy === "headerHash" && filter.headerHashKey === undefined) {
      ctx.addIssue({ code: "custom", message: "required when policy is headerHash", path: ["headerHashKey"] });
    }
  }, evenAfterOtherErrors);

export const passiveHealthSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Eject servers whose real connections fail."),
    fails: z
      .int()
      .min(1)
      .optional()
      .describe(
        "Failed connections in a row (refused, timed out, reset, a 5xx answer or a broken 101) that eject a server.",
      ),
    baseEjectionTime: positiveDuration
      .prefault("10s")
      .describe("First ejection; it doubles with each ejection in a row, until a connection to the server succeeds."),
    maxEjectionTime: positiveDuration.prefault("5m").describe("Longest ejection."),
  })
  .refine((passive) => passive.maxEjectionTime >= passive.baseEjectionTime, {
    error: "must not be shorter than baseEjectionTime",
    path: ["maxEjectionTime"],
  });
docMeta.add(passiveHealthSchema.shape.fails, { default: "the health check's `fails`, else `1`" });

/** The pool fields every kind has, described once (the configuration reference shows their tables once). */
export const sharedPoolFields = {
  serverTags: z.array(z.string()).default([]).describe("When set, only servers having one of these tags are used."),
  loadBalance: loadBalanceSchema.prefault({}).describe("How a server is picked."),
  healthCheck: healthCheckSchema
    .optional()
    .describe(
      "Active health checks: a server that fails them takes no new connections until it passes again. Without it every server counts as healthy.",
    ),
  passiveHealth: passiveHealthSchema
    .optional()
    .describe(
      "Passive health (outlier detection): real connections that fail eject their server for a growing back-off.",
    ),
  filter: requestMatcherSchema
    .optional()
    .describe(
      "Makes this a candidate pool, which takes the connections it matches (the first matching candidate wins); the one pool without `filter` takes the rest.",
    ),
  tls: backendTlsSchema
    .optional()
    .describe(
      "TLS settings for the pool's TLS (wss:// or https://) servers; without it their certificates are verified against the system CAs.",
    ),
};
docMeta.add(sharedPoolFields.passiveHealth, { default: "on, with the defaults below" });

/** `serverTags` must select at least one server of the pool. */
export function serverTagsIssues(
  pool: { serverTags: readonly string[]; servers: ReadonlyArray<{ tags: readonly string[] }> },
  ctx: z.RefinementCtx,
): void {
  if (pool.serverTags.length === 0) return;
  const tagged = pool.servers.some((server) => server.tags.some((tag) => pool.serverTags.includes(tag)));
  if (!tagged) {
    ctx.addIssue({
      code: "custom",
      message: `no server has any of the tags ${pool.serverTags.join(", ")}`,
      path: ["serverTags"],
      input: pool.serverTags,
    });
  }
}

/** Exactly one main pool (without `filter`), as in Easegress; read defensively, other fields may have failed. */
export function mainPoolIssues(pools: readonly unknown[], ctx: z.RefinementCtx): void {
  const mains = pools.flatMap((pool, index) =>
    (pool as { filter?: unknown } | undefined)?.filter === undefined ? [index] : [],
  );
  if (mains.length === 0) {
    ctx.addIssue({
      code: "custom",
      message: "one pool must have no 'filter': the main pool, which takes what no candidate pool matches",
    });
  }
  for (const index of mains.slice(1)) {
    ctx.addIssue({
      code: "custom",
      message: `pools[${mains[0] ?? 0}] is already the main pool (the one without 'filter'); give this pool a 'filter'`,
      path: [index],
    });
  }
}
