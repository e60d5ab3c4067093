import { CredentialCheckBusyError, DuplicateTokenError, type GatewayError } from "../../errors.js";
import type { SecretQueryParams } from "../../observability/redact.js";
import type { RequestContext } from "../../pipeline/context.js";
import type { Filter, FilterResult } from "../../pipeline/filter.js";
import {
  earlierExpiry,
  type CredentialExpiry,
  type CredentialRenewer,
  type RenewalOrigin,
} from "../../proxy/credential-expiry.js";
import { verifiedClientCert } from "../../util/http/client-cert.js";
import { HandshakeRefusedError } from "../refusals.js";
import { HtpasswdFile, basicCredentials } from "./htpasswd.js";
import { JwtVerifier } from "./jwt.js";
import { SessionExpiryRules, type Admission } from "./session-expiry.js";
import type { ValidatorSpec } from "./spec.js";

interface HeaderRule {
  name: string;
  values: ReadonlySet<string>;
  regexp: RegExp | undefined;
}

/** Control characters other than tab, which a header value cannot carry. */
function isControlCharacter(char: string): boolean {
  const code = char.charCodeAt(0);
  return (code < 0x20 && code !== 0x09) || code === 0x7f;
}

function challengeValue(text: string): string {
  return text.replace(/["\\]/g, "\\$&");
}

/**
 * The Validator filter: header rules (403), a JSON Web Token (401 Bearer) and basic authentication (401 Basic), in
 * that order. A request that fails gets `invalid` with the refusal prepared (403, 401 with its challenge); the log line
 * says why, never the token or password.
 */
export class Validator implements Filter, CredentialRenewer {
  readonly kind = "Validator";
  readonly name: string;
  private readonly headerRules: HeaderRule[];
  private readonly jwt: JwtVerifier | undefined;
  private readonly users: HtpasswdFile | undefined;
  /** When the sessions it admits end (token `exp`, certificate `notAfter`, `maxSessionDuration`). */
  private readonly expiry: SessionExpiryRules;
  /** The `forwardClaims` headers: the pipeline removes the client's copies of them whatever the claims hold. */
  readonly upstreamHeaderNames: readonly string[];

  /** `secrets`: its gateway's secret query parameters, where the token's `jwt.queryParam` is added. */
  constructor(
    private readonly spec: ValidatorSpec,
    secrets: SecretQueryParams,
  ) {
    this.name = spec.name;
    this.upstreamHeaderNames = Object.values(spec.jwt?.forwardClaims ?? {});
    this.headerRules = Object.entries(spec.headers).map(([name, rule]) => ({
      name: name.toLowerCase(),
      values: new Set(rule.values),
      regexp: rule.regexp === undefined ? undefined : new RegExp(rule.regexp),
    }));
    this.jwt = spec.jwt === undefined ? undefined : new JwtVerifier(spec.jwt);
    // Logs show paths: the parameter that carries the token is redacted from them.
    if (spec.jwt?.queryParam !== undefined) secrets.add(spec.jwt.queryParam);
    this.users =
      spec.basicAuth === undefined ? undefined : new HtpasswdFile(spec.basicAuth.userFile, spec.basicAuth.cacheTTL);
    this.expiry = new SessionExpiryRules(spec, this.jwt);
  }

  async handle(context: RequestContext): Promise<FilterResult> {
    const admission: Admission = { basic: this.users !== undefined };
    const refusal =
      this.checkHeaders(context) ??
      this.checkClientCert(context, admission) ??
      (await this.checkJwt(context, admission)) ??
      (await this.checkBasic(context));
    // Sent only if the flow ends here: `jumpIf: {invalid: other}` tries the other filter instead.
    if (refusal !== undefined) return { result: "invalid", error: refusal };
    context.credentialExpiry = earlierExpiry(context.credentialExpiry, this.expiry.expiryOf(admission, Date.now()));
    return "";
  }

  /** A moved session's credential, for its renewals to be checked here (`wsgate upgrade`). */
  resumedExpiry(origin: RenewalOrigin): CredentialExpiry | undefined {
    return this.expiry.resumed(origin);
  }

  /** `clientCertificate`: a verified client certificate on the connection, else 403. */
  private checkClientCert(context: RequestContext, admission: Admission): HandshakeRefusedError | undefined {
    if (this.spec.clientCertificate === undefined) return undefined;
    admission.cert = verifiedClientCert(context.req.socket);
    if (admission.cert !== undefined) return undefined;
    const problem = "no verified client certificate";
    return new HandshakeRefusedError(403, "WSG_VALIDATION_CERT", `validator ${this.name}: ${problem}`, {}, problem);
  }

  private checkHeaders(context: RequestContext): HandshakeRefusedError | undefined {
    for (const rule of this.headerRules) {
      const raw = context.req.headers[rule.name];
      const value = Array.isArray(raw) ? raw.join(", ") : raw;
      const ok =
        value !== undefined && (rule.values.has(value) || (rule.regexp !== undefined && rule.regexp.test(value)));
      if (!ok) {
        const problem = `header ${rule.name} ${value === undefined ? "missing" : "does not match"}`;
        return new HandshakeRefusedError(
          403,
          "WSG_VALIDATION_HEADER",
          `validator ${this.name}: ${problem}`,
          {},
          problem,
        );
      }
    }
    return undefined;
  }

  private async checkJwt(context: RequestContext, admission: Admission): Promise<GatewayError | undefined> {
    if (this.jwt === undefined || this.spec.jwt === undefined) return undefined;
    const outcome = await this.jwt.verify(context.req);
    if (!outcome.ok && outcome.duplicate !== undefined) return new DuplicateTokenError(outcome.duplicate);
    if (!outcome.ok) {
      const challenge = outcome.missing
        ? `Bearer realm="wsgate"`
        : `Bearer realm="wsgate", error="invalid_token", error_description="${challengeValue(outcome.reason)}"`;
      const problem = `jwt: ${outcome.reason}`;
      const headers = { "WWW-Authenticate": challenge };
      return new HandshakeRefusedError(
        401,
        "WSG_VALIDATION_JWT",
        `validator ${this.name}: ${problem}`,
        headers,
        problem,
      );
    }
    admission.claims = outcome.claims;
    for (const [claim, header] of Object.entries(this.spec.jwt.forwardClaims)) {
      // Owned even when no value is set below: a missing or unusable claim must not let the client's copy through.
      context.ownedHeaders.own(header);
      const value = outcome.claims[claim];
      if (value === undefined || value === null) continue;
      const text = typeof value === "string" ? value : JSON.stringify(value);
      // A header value cannot hold line breaks or other control characters.
      if ([...text].some((char) => isControlCharacter(char))) continue;
      context.setUpstreamHeader(header, text);
    }
    return undefined;
  }

  private async checkBasic(context: RequestContext): Promise<GatewayError | undefined> {
    if (this.users === undefined || this.spec.basicAuth === undefined) return undefined;
    const credentials = basicCredentials(context.req.headers.authorization);
    let ok: boolean;
    try {
      ok = credentials !== undefined && (await this.users.check(credentials.user, credentials.password));
    } catch (error) {
      // Too many password checks waiting: 503 with Retry-After, not a queue without end.
      if (error instanceof CredentialCheckBusyError) return error;
      throw error;
    }
    if (ok) return undefined;
    const reason = credentials === undefined ? "no credentials" : `user '${credentials.user}' not authenticated`;
    const headers = {
      "WWW-Authenticate": `Basic realm="${challengeValue(this.spec.basicAuth.realm)}", charset="UTF-8"`,
    };
    const problem = `basic auth: ${reason}`;
    return new HandshakeRefusedError(
      401,
      "WSG_VALIDATION_BASIC",
      `validator ${this.name}: ${problem}`,
      headers,
      problem,
    );
  }

  close(): void {
    this.users?.close();
  }
}
