// The `tls` field of a backend pool and of its servers, as configured; tls-options.ts turns it into socket options.
import { z } from "zod";
import { docMeta } from "../schema/doc-meta.js";
import { caBundleProblem, pemFromConfig } from "../util/pem.js";

const filePathSchema = z.string().min(1);
docMeta.add(filePathSchema, { type: "file path" });

const caBase64Schema = z.string().superRefine((text, ctx) => {
  const pem = pemFromConfig(text);
  const problem = pem === undefined ? "expected PEM CA certificates, or base64 of them" : caBundleProblem(pem);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: text });
});
docMeta.add(caBase64Schema, { type: "PEM, inline or base64" });

export const backendTlsSchema = z
  .strictObject({
    caFile: filePathSchema
      .optional()
      .describe("CA certificates (PEM) that the backend's certificate must chain to, instead of the system CAs."),
    caBase64: caBase64Schema.optional().describe("The same as `caFile`, given inline: base64 of PEM, or PEM."),
    serverName: z
      .string()
      .min(1)
      .optional()
      .describe("Name sent as SNI and verified in the backend's certificate, instead of the URL's host."),
    insecureSkipVerify: z
      .boolean()
      .optional()
      .describe("Do not verify the backend's certificate at all (logged as insecure at start-up). For tests only."),
    certFile: filePathSchema
      .optional()
      .describe("Client certificate (PEM) presented to backends that ask for one (mTLS), with `keyFile`."),
    keyFile: filePathSchema.optional().describe("Private key (PEM, unencrypted) of `certFile`."),
  })
  .superRefine((spec, ctx) => {
    if (spec.caFile !== undefined && spec.caBase64 !== undefined) {
      ctx.addIssue({ code: "custom", message: "give caFile or caBase64, not both", path: ["caBase64"] });
    }
    if ((spec.certFile === undefined) !== (spec.keyFile === undefined)) {
      const given = spec.certFile === undefined ? "keyFile" : "certFile";
      const missing = spec.certFile === undefined ? "certFile" : "keyFile";
      ctx.addIssue({ code: "custom", message: `${given} needs ${missing}`, path: [given] });
    }
  });
docMeta.add(backendTlsSchema.shape.insecureSkipVerify, { default: "`false`" });

export type BackendTlsConfig = z.output<typeof backendTlsSchema>;

/** Backend URL schemes that speak TLS (after http(s) → ws(s)). */
export function isTlsUrl(url: string): boolean {
  return /^(wss|https):/i.test(url);
}

/** Pool-level checks of `tls`: only TLS servers take it, and a pool's `tls` needs at least one TLS server. */
export function backendTlsIssues(
  pool: { tls?: unknown; servers: ReadonlyArray<{ url: string; tls?: unknown }> },
  ctx: z.RefinementCtx,
): void {
  for (const [index, server] of pool.servers.entries()) {
    if (server.tls !== undefined && !isTlsUrl(server.url)) {
      ctx.addIssue({
        code: "custom",
        message: `tls needs a wss:// (or https://) URL, not '${server.url}'`,
        path: ["servers", index, "tls"],
      });
    }
  }
  if (pool.tls !== undefined && !pool.servers.some((server) => isTlsUrl(server.url))) {
    ctx.addIssue({ code: "custom", message: "no server of this pool has a wss:// (or https://) URL", path: ["tls"] });
  }
}
