import { z } from "zod";
import { durationSchema } from "../../schema/duration.js";
import { evenAfterOtherErrors, nameSchema, regexpSchema } from "../../schema/common-fields.js";
import { markField } from "../../schema/marked-fields.js";
import { renewalSchema, validatorSessionFields } from "./session-spec.js";

export const JWT_ALGORITHMS = [
  "HS256",
  "HS384",
  "HS512",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;

/** Easegress: a header passes when its value is one of `values` or matches `regexp`. */
const headerRuleSchema = z
  .strictObject({
    values: z.array(z.string()).default([]).describe("Accepted values (any one matches)."),
    regexp: regexpSchema.optional().describe("Regular expression the value must match."),
  })
  .refine((rule) => rule.values.length > 0 || rule.regexp !== undefined, {
    error: "needs at least one of 'values' or 'regexp'",
  });

const headerNameSchema = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, { error: "invalid header name" });

const jwtSchema = z
  .strictObject({
    algorithm: z.enum(JWT_ALGORITHMS).optional().describe("Signature algorithm tokens must use (Easegress field)."),
    algorithms: z
      .array(z.enum(JWT_ALGORITHMS))
      .min(1)
      .optional()
      .describe("Several accepted algorithms, e.g. for a JWKS holding keys of different types."),
    secret: markField(
      z.string().min(1).optional().describe("HMAC secret for HS*, encoded as `secretEncoding` says."),
      "secret",
    ),
    secretEncoding: z
      .enum(["hex", "base64", "text"])
      .default("hex")
      .describe("How `secret` is written: `hex` as Easegress has it, `base64`, or the `text` itself."),
    publicKey: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Public key in PEM (SPKI or certificate), or hex-encoded PEM as Easegress has it, for RS*/PS*/ES*/EdDSA.",
      ),
    jwksUrl: markField(
      z
        .url({ protocol: /^https?$/ })
        .optional()
        .describe(
          "URL of a JWKS; fetched on first use, cached, refetched after `jwksCacheMaxAge` or for an unknown `kid`.",
        ),
      "outboundUrl",
    ),
    jwksFile: z.string().min(1).optional().describe("Path of a JWKS file; read again when it changes."),
    jwksCacheMaxAge: durationSchema
      .prefault("10m")
      .describe("How long a fetched JWKS is used before it is fetched again."),
    cookieName: z
      .string()
      .min(1)
      .optional()
      .describe("Take the token from this cookie when there is no Bearer header."),
    queryParam: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Take the token from this query parameter when there is no Bearer header (browsers cannot set headers on a WebSocket).",
      ),
    clockSkew: durationSchema.prefault("30s").describe("Tolerance for `exp` and `nbf`."),
    issuer: z.string().min(1).optional().describe("Required `iss` claim."),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe("Accepted `aud` values; the token must carry one of them."),
    forwardClaims: z
      .record(z.string().min(1), headerNameSchema)
      .default({})
      .describe(
        "Claims sent to the backend as headers, `claim: Header-Name` (e.g. `sub: X-User`); they replace client headers of those names.",
      ),
    renewal: renewalSchema
      .optional()
      .describe(
        "Renewal without reconnecting: a client message carrying a new token. Without it no message is read. The session of a token with an `exp` ends at `exp` plus `clockSkew` in any case.",
      ),
  })
  .superRefine((jwt, ctx) => {
    const keys = [jwt.secret, jwt.publicKey, jwt.jwksUrl, jwt.jwksFile].filter((key) => key !== undefined);
    if (keys.length !== 1) {
      ctx.addIssue({ code: "custom", message: "needs exactly one of 'secret', 'publicKey', 'jwksUrl' or 'jwksFile'" });
    }
    if (jwt.algorithm === undefined && jwt.algorithms === undefined) {
      ctx.addIssue({ code: "custom", message: "needs 'algorithm' (or 'algorithms')", path: ["algorithm"] });
    }
    const algorithms = [...(jwt.algorithms ?? []), ...(jwt.algorithm === undefined ? [] : [jwt.algorithm])];
    const hmac = algorithms.filter((alg) => alg.startsWith("HS"));
    if (jwt.secret !== undefined && hmac.length !== algorithms.length) {
      ctx.addIssue({ code: "custom", message: "'secret' goes with HS256/HS384/HS512 only", path: ["secret"] });
    }
    if (jwt.secret === undefined && hmac.length > 0) {
      ctx.addIssue({ code: "custom", message: `${hmac.join(", ")} needs 'secret'`, path: ["secret"] });
    }
    if (jwt.secret !== undefined && jwt.secretEncoding === "hex" && !/^(?:[0-9a-fA-F]{2})+$/.test(jwt.secret)) {
      ctx.addIssue({
        code: "custom",
        message: "not hex (Easegress writes the secret hex-encoded; set secretEncoding: text for a plain secret)",
        path: ["secret"],
      });
    }
  })
  .transform(({ algorithm, algorithms, ...jwt }) => ({
    ...jwt,
    algorithms: [...new Set([...(algorithms ?? []), ...(algorithm === undefined ? [] : [algorithm])])],
  }));

const basicAuthSchema = z.strictObject({
  mode: z.enum(["FILE"]).describe("Where users come from; `FILE` (an htpasswd file) is the one supported."),
  userFile: z
    .string()
    .min(1)
    .describe(
      "htpasswd file: `user:hash` lines, bcrypt (`$2y$`, `$2a$`, `$2b$`) or `{SHA}`; read again when it changes.",
    ),
  realm: z.string().default("wsgate").describe("Realm named in the `WWW-Authenticate: Basic` challenge."),
  cacheTTL: durationSchema
    .prefault("60s")
    .describe(
      "How long a successful check is remembered (by a SHA-256 of user, password and entry; a changed entry misses); `0` turns it off.",
    ),
});

export const validatorSchema = z
  .strictObject({
    kind: z.literal("Validator").describe("Filter kind."),
    name: nameSchema.describe("Filter name, unique in its pipeline; `flow` refers to it."),
    headers: z
      .record(z.string().min(1), headerRuleSchema)
      .default({})
      .describe("Request headers that must be present and match, by name (Easegress shape); failing: 403."),
    jwt: jwtSchema
      .optional()
      .describe("A JSON Web Token the request must carry; failing: 401 with `WWW-Authenticate: Bearer`."),
    basicAuth: basicAuthSchema
      .optional()
      .describe("HTTP basic authentication against an htpasswd file; failing: 401 with `WWW-Authenticate: Basic`."),
    ...validatorSessionFields,
  })
  .refine(
    (spec) =>
      Object.keys(spec.headers).length > 0 ||
      spec.jwt !== undefined ||
      spec.basicAuth !== undefined ||
      spec.clientCertificate !== undefined,
    {
      error: "needs at least one of 'headers', 'jwt', 'basicAuth' or 'clientCertificate'",
      ...evenAfterOtherErrors,
    },
  );

export type ValidatorSpec = z.output<typeof validatorSchema>;
export type JwtSpec = NonNullable<ValidatorSpec["jwt"]>;
export type BasicAuthSpec = NonNullable<ValidatorSpec["basicAuth"]>;
