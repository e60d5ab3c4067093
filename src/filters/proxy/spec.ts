import { z } from "zod";
import { docMeta } from "../../schema/doc-meta.js";
import { evenAfterOtherErrors, nameSchema } from "../../schema/common-fields.js";
import {
  mainPoolIssues,
  positiveDuration,
  serverSchemaFor,
  serverTagsIssues,
  sharedPoolFields,
} from "../../upstream/pool-spec.js";
import { backendTlsIssues } from "../../upstream/tls-spec.js";

/** Why `text` cannot be an HTTP backend URL, or undefined when it can. */
function httpUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `invalid URL '${text}' (expected e.g. http://127.0.0.1:8081)`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `unsupported URL scheme '${url.protocol.slice(0, -1)}' in '${text}' (expected http or https)`;
  }
  if (url.hostname === "") return `URL '${text}' has no host`;
  if (url.username !== "" || url.password !== "") return "URL must not contain credentials (user:password@)";
  if (url.pathname !== "/" || url.search !== "") {
    return `URL '${text}' has a path or query; the request's own path and query are sent (use rewriteTarget)`;
  }
  return undefined;
}

const httpUrlSchema = z.string().superRefine((text, ctx) => {
  const problem = httpUrlProblem(text);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: text });
});
docMeta.add(httpUrlSchema, { type: "URL (http or https)" });

const serverSchema = serverSchemaFor(httpUrlSchema.describe("Backend address, e.g. `http://127.0.0.1:8081`."));

const poolSchema = z
  .strictObject({
    servers: z.array(serverSchema).min(1).describe("Backends of this pool."),
    serverTags: sharedPoolFields.serverTags,
    loadBalance: sharedPoolFields.loadBalance,
    healthCheck: sharedPoolFields.healthCheck,
    passiveHealth: sharedPoolFields.passiveHealth,
    filter: sharedPoolFields.filter,
    tls: sharedPoolFields.tls,
  })
  .superRefine(serverTagsIssues)
  .superRefine(backendTlsIssues);

const statusCodeSchema = z.int().min(100).max(599);

/** The Proxy filter: plain HTTP to the servers of its pools, bodies streamed both ways. */
export const proxySchema = z.strictObject({
  kind: z.literal("Proxy").describe("Filter kind."),
  name: nameSchema.describe("Filter name, unique in its pipeline; `flow` refers to it."),
  pools: z
    .array(poolSchema)
    .min(1)
    .superRefine(mainPoolIssues, evenAfterOtherErrors)
    .describe(
      "Backend pools: one main pool (without `filter`) and any number of candidate pools (with `filter`), tried in order.",
    ),
  dialTimeout: positiveDuration
    .prefault("5s")
    .describe("Time allowed to open the TCP (and TLS) connection to a backend."),
  responseTimeout: positiveDuration
    .prefault("60s")
    .describe(
      "Time allowed for the backend's response headers once the whole request (body included) is sent; over it: 504.",
    ),
  idleConnTimeout: positiveDuration
    .prefault("30s")
    .describe("An idle kept-alive connection to a backend is closed after this long."),
  maxIdleConnsPerHost: z
    .int()
    .min(0)
    .default(64)
    .describe("Idle kept-alive connections kept per backend server; 0 closes each after its response."),
  failureCodes: z
    .array(statusCodeSchema)
    .default([])
    .describe(
      "Backend answers with these statuses count as failures of the server (passive health) and make the filter's result `failureCode`; the answer still reaches the client.",
    ),
});

export type ProxySpec = z.output<typeof proxySchema>;
export type ProxyPool = ProxySpec["pools"][number];
