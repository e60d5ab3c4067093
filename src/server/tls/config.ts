// The TLS fields of HTTPServer: Easegress's (`https`, `certBase64`/`keyBase64`, `certs`/`keys`, `caCertBase64`)
// and wsgate's own (`certFiles`, `caCertFile`, `clientAuth`, `clientCertHeaders`, `minVersion`, `ciphers`).
import { z } from "zod";
import { docMeta } from "../../schema/doc-meta.js";
import { markField } from "../../schema/marked-fields.js";
import { cipherListProblem } from "./cipher-policy.js";
import { caBundleProblem, parsePair, pemFromConfig } from "../../util/pem.js";

export const CLIENT_AUTH_MODES = ["off", "request", "require"] as const;
export type ClientAuthMode = (typeof CLIENT_AUTH_MODES)[number];

export const TLS_VERSIONS = ["TLSv1.2", "TLSv1.3"] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers the gateway sets itself for the backend handshake; a certificate header cannot take their place. */
const RESERVED_HEADER = /^(host|connection|upgrade|origin|sec-websocket-.*|x-forwarded-(for|host|proto))$/i;

const headerNameSchema = z.string().superRefine((name, ctx) => {
  if (!HEADER_TOKEN.test(name)) {
    ctx.addIssue({ code: "custom", message: `invalid header name '${name}'`, input: name });
  } else if (RESERVED_HEADER.test(name)) {
    ctx.addIssue({
      code: "custom",
      message: `'${name}' is set by the gateway itself; choose another name`,
      input: name,
    });
  }
});
docMeta.add(headerNameSchema, { type: "header name" });

const pemSchema = z.string().min(1);
docMeta.add(pemSchema, { type: "PEM, inline or base64" });

/** A private key: the admin API shows it only with the token and `?secrets=true`. */
const privateKeySchema = markField(z.string().min(1), "secret");
docMeta.add(privateKeySchema, { type: "PEM, inline or base64" });
const cipherListSchema = z.string().superRefine((list, ctx) => {
  const problem = cipherListProblem(list);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, input: list });
});
docMeta.add(cipherListSchema, { type: "OpenSSL cipher list" });

const filePathSchema = z.string().min(1);
docMeta.add(filePathSchema, { type: "file path" });

const certFileSchema = z.strictObject({
  certFile: filePathSchema.describe(
    "Certificate file, PEM: the server certificate first, then any intermediates. Relative paths start at the working directory.",
  ),
  keyFile: filePathSchema.describe("Its private key file, PEM, unencrypted."),
});

const clientCertHeadersSchema = z
  .strictObject({
    subject: headerNameSchema
      .optional()
      .describe("Header for the subject, RFC 4514 style (`CN=alice,O=Example`); non-ASCII bytes escaped as `\\XX`."),
    fingerprint: headerNameSchema
      .optional()
      .describe("Header for the SHA-256 fingerprint, as `openssl x509 -fingerprint -sha256` prints it (`AB:CD:…`)."),
  })
  .refine((headers) => headers.subject !== undefined || headers.fingerprint !== undefined, {
    error: "names no header: give 'subject', 'fingerprint' or both",
  });

/** The TLS fields, in the order the reference shows them; spread into the HTTPServer object schema after `https`. */
export const httpsFields = {
  certBase64: pemSchema
    .optional()
    .describe("A certificate chain, with `keyBase64`: Easegress's single-pair form (base64 of PEM, or PEM)."),
  keyBase64: privateKeySchema.optional().describe("The private key of `certBase64`."),
  certs: z
    .record(z.string(), pemSchema)
    .optional()
    .describe(
      "Certificate chains by pair name, each with the key of the same name in `keys`. A pair serves the host names in its certificate (DNS subject alternative names, else the common name), exact or wildcard.",
    ),
  keys: z.record(z.string(), privateKeySchema).optional().describe("Private keys (unencrypted) by pair name."),
  certFiles: z
    .array(certFileSchema)
    .optional()
    .describe(
      "Certificate and key files. They are watched: a changed pair is used for new handshakes within seconds, live connections keep theirs; a broken new pair is logged and the old one stays.",
    ),
  caCertBase64: pemSchema
    .optional()
    .describe("CA certificates that client certificates must chain to (mTLS): base64 of PEM, or PEM."),
  caCertFile: filePathSchema
    .optional()
    .describe("File of CA certificates (PEM) that client certificates must chain to (mTLS); watched like `certFiles`."),
  clientAuth: z
    .enum(CLIENT_AUTH_MODES)
    .optional()
    .describe(
      "Client certificates: `require` refuses a client without a valid one during the TLS handshake; `request` asks for one, lets a client without one through and refuses an invalid one; `off` asks for none.",
    ),
  clientCertHeaders: clientCertHeadersSchema
    .optional()
    .describe(
      "Request headers that carry the verified client certificate to the backend; the client's own headers of these names are always removed. Off when absent.",
    ),
  minVersion: z.enum(TLS_VERSIONS).optional().describe("Oldest TLS version accepted from clients."),
  ciphers: cipherListSchema
    .optional()
    .describe(
      "Cipher suites offered to clients, an OpenSSL cipher list (`:`-separated); TLS 1.3 suites (`TLS_AES_128_GCM_SHA256`, ...) go in the same list; without any, TLS 1.3 keeps OpenSSL's three (all AEAD). A name OpenSSL does not know is a config error. Client renegotiation is always refused.",
    ),
};
docMeta.add(httpsFields.clientAuth, { default: "`require` with a CA, else `off`" });
docMeta.add(httpsFields.minVersion, { default: "`TLSv1.2`" });
docMeta.add(httpsFields.ciphers, {
  default: "Mozilla intermediate: ECDHE with AES-GCM or ChaCha20-Poly1305 (TLS 1.2), and the TLS 1.3 suites",
});

/** Fields whose values `httpsIssues` reads; the others it only checks for presence. */
const CHECKED_FIELDS = new Set(["https", "certBase64", "keyBase64", "certs", "keys", "caCertBase64", "clientAuth"]);

/**
 * When `httpsIssues` runs: even after errors in other fields (so that one load reports every error), but not when a
 * field whose value it reads failed its own schema, since that value would not have the parsed shape.
 */
export const httpsCheckWhen = {
  when: (payload: z.core.ParsePayload): boolean =>
    typeof payload.value === "object" &&
    payload.value !== null &&
    !payload.issues.some((issue) => CHECKED_FIELDS.has(String(issue.path?.[0]))),
};

/** The parsed TLS fields, as the rest of the gateway reads them from the HTTPServer spec. */
export interface HttpsSpec {
  https: boolean;
  certBase64?: string | undefined;
  keyBase64?: string | undefined;
  certs?: Record<string, string> | undefined;
  keys?: Record<string, string> | undefined;
  certFiles?: Array<{ certFile: string; keyFile: string }> | undefined;
  caCertBase64?: string | undefined;
  caCertFile?: string | undefined;
  clientAuth?: ClientAuthMode | undefined;
  clientCertHeaders?: { subject?: string | undefined; fingerprint?: string | undefined } | undefined;
  minVersion?: TlsVersion | undefined;
  ciphers?: string | undefined;
}

/** Whether client certificates are asked for, once defaults are applied. */
export function clientAuthOf(spec: HttpsSpec): ClientAuthMode {
  const hasCa = spec.caCertBase64 !== undefined || spec.caCertFile !== undefined;
  return spec.clientAuth ?? (hasCa ? "require" : "off");
}

type Issue = { path: PropertyKey[]; message: string; input?: unknown };

function checkInlinePair(certText: string, keyText: string, certPath: PropertyKey[], keyPath: PropertyKey[]): Issue[] {
  const certPem = pemFromConfig(certText);
  const keyPem = pemFromConfig(keyText);
  const issues: Issue[] = [];
  if (certPem === undefined) issues.push({ path: certPath, message: "expected a PEM certificate, or base64 of one" });
  if (keyPem === undefined) issues.push({ path: keyPath, message: "expected a PEM private key, or base64 of one" });
  if (certPem === undefined || keyPem === undefined) return issues;
  try {
    parsePair(certPem, keyPem);
  } catch (error) {
    const message = (error as Error).message;
    const onKey = message.startsWith("key: ");
    issues.push({ path: onKey ? keyPath : certPath, message: message.replace(/^(certificate|key): /, "") });
  }
  return issues;
}

/** Checks across the TLS fields: pairs complete and valid, a CA for client certificates, nothing TLS without https. */
export function httpsIssues(spec: HttpsSpec): Issue[] {
  const issues: Issue[] = [];
  const tlsFields = Object.keys(httpsFields).filter((field) => spec[field as keyof HttpsSpec] !== undefined);
  if (!spec.https) {
    for (const field of tlsFields) issues.push({ path: [field], message: `${field} needs https: true` });
    return issues;
  }
  const certs = spec.certs ?? {};
  const keys = spec.keys ?? {};
  // certFiles is only counted: a value that failed its schema still counts as given.
  const files = spec.certFiles === undefined ? 0 : Array.isArray(spec.certFiles) ? spec.certFiles.length : 1;
  const pairs = Object.keys(certs).length + (spec.certBase64 === undefined ? 0 : 1) + files;
  if (pairs === 0) {
    issues.push({
      path: ["https"],
      message: "needs a certificate: certs and keys, certBase64 and keyBase64, or certFiles",
    });
  }
  if ((spec.certBase64 === undefined) !== (spec.keyBase64 === undefined)) {
    const missing = spec.certBase64 === undefined ? "certBase64" : "keyBase64";
    const given = spec.certBase64 === undefined ? "keyBase64" : "certBase64";
    issues.push({ path: [given], message: `${given} needs ${missing}` });
  } else if (spec.certBase64 !== undefined && spec.keyBase64 !== undefined) {
    issues.push(...checkInlinePair(spec.certBase64, spec.keyBase64, ["certBase64"], ["keyBase64"]));
  }
  for (const [name, cert] of Object.entries(certs)) {
    const key = keys[name];
    if (key === undefined) issues.push({ path: ["certs", name], message: `certificate '${name}' has no key in keys` });
    else issues.push(...checkInlinePair(cert, key, ["certs", name], ["keys", name]));
  }
  for (const name of Object.keys(keys)) {
    if (certs[name] === undefined)
      issues.push({ path: ["keys", name], message: `key '${name}' has no certificate in certs` });
  }
  if (spec.caCertBase64 !== undefined && spec.caCertFile !== undefined) {
    issues.push({ path: ["caCertFile"], message: "give caCertBase64 or caCertFile, not both" });
  }
  if (spec.caCertBase64 !== undefined) {
    const pem = pemFromConfig(spec.caCertBase64);
    const problem = pem === undefined ? "expected PEM CA certificates, or base64 of them" : caBundleProblem(pem);
    if (problem !== undefined) issues.push({ path: ["caCertBase64"], message: problem });
  }
  const hasCa = spec.caCertBase64 !== undefined || spec.caCertFile !== undefined;
  const mode = clientAuthOf(spec);
  if (mode !== "off" && !hasCa) {
    issues.push({ path: ["clientAuth"], message: `clientAuth ${mode} needs caCertBase64 or caCertFile` });
  }
  if (spec.clientCertHeaders !== undefined && mode === "off") {
    issues.push({
      path: ["clientCertHeaders"],
      message: "clientCertHeaders needs client certificates (caCertBase64 or caCertFile, clientAuth not off)",
    });
  }
  return issues;
}
