import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from "jose";
import type { JwtSpec } from "./spec.js";

/** A token check's outcome: the claims, or why the token was refused (never the token itself). */
export type JwtOutcome = { ok: true; claims: JWTPayload } | { ok: false; reason: string; missing: boolean };

type KeySource = Uint8Array | KeyObject | JWTVerifyGetKey;

function secretBytes(spec: JwtSpec): Uint8Array {
  const secret = spec.secret ?? "";
  const encoding = spec.secretEncoding === "text" ? "utf8" : spec.secretEncoding;
  return new Uint8Array(Buffer.from(secret, encoding));
}

function publicKeyOf(text: string): KeyObject {
  const pem = text.includes("-----BEGIN") ? text : Buffer.from(text.trim(), "hex").toString("utf8");
  return createPublicKey(pem);
}

/** A JWKS file, read again when its modification time or size changes (checked at most once a second). */
class JwksFile {
  private keys: JWTVerifyGetKey | undefined;
  private version = "";
  private checkedAt = 0;

  constructor(private readonly path: string) {}

  async resolver(): Promise<JWTVerifyGetKey> {
    const now = Date.now();
    if (this.keys === undefined || now - this.checkedAt >= 1000) {
      this.checkedAt = now;
      const info = await stat(this.path);
      const version = `${info.mtimeMs}:${info.size}`;
      if (this.keys === undefined || version !== this.version) {
        const set = JSON.parse(await readFile(this.path, "utf8")) as JSONWebKeySet;
        this.keys = createLocalJWKSet(set);
        this.version = version;
      }
    }
    return this.keys;
  }
}

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer[ \t]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponentSafe(part.slice(eq + 1).trim());
  }
  return undefined;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function queryValue(req: IncomingMessage, name: string): string | undefined {
  const url = req.url ?? "";
  const query = url.indexOf("?");
  if (query < 0) return undefined;
  return new URLSearchParams(url.slice(query + 1)).get(name) ?? undefined;
}

/** Why jose refused a token, in words fit for a log line. */
function reasonOf(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "token expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return `claim '${error.claim}' check failed: ${error.reason}`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "signature verification failed";
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "no key in the JWKS matches the token";
  if (error instanceof joseErrors.JOSEError) return `${error.code}: ${error.message}`;
  if (error instanceof SyntaxError) return "JWKS is not valid JSON";
  if (error instanceof Error && "code" in error) return `key source failed: ${String(error.code)}`;
  return "invalid token";
}

/** Verifies the request's JSON Web Token as `spec` says. */
export class JwtVerifier {
  private readonly key: KeySource | undefined;
  private readonly file: JwksFile | undefined;

  constructor(private readonly spec: JwtSpec) {
    if (spec.secret !== undefined) this.key = secretBytes(spec);
    else if (spec.publicKey !== undefined) this.key = publicKeyOf(spec.publicKey);
    else if (spec.jwksUrl !== undefined) {
      this.key = createRemoteJWKSet(new URL(spec.jwksUrl), {
        cacheMaxAge: spec.jwksCacheMaxAge,
        cooldownDuration: 30_000,
        timeoutDuration: 5000,
      });
    } else if (spec.jwksFile !== undefined) this.file = new JwksFile(spec.jwksFile);
  }

  /** The token from `Authorization: Bearer`, else the cookie, else the query parameter. */
  tokenOf(req: IncomingMessage): string | undefined {
    return (
      bearerToken(req) ??
      (this.spec.cookieName === undefined ? undefined : cookieValue(req, this.spec.cookieName)) ??
      (this.spec.queryParam === undefined ? undefined : queryValue(req, this.spec.queryParam))
    );
  }

  async verify(req: IncomingMessage): Promise<JwtOutcome> {
    const token = this.tokenOf(req);
    if (token === undefined || token === "") return { ok: false, reason: "no token", missing: true };
    const options = {
      algorithms: this.spec.algorithms,
      clockTolerance: Math.round(this.spec.clockSkew / 1000),
      ...(this.spec.issuer === undefined ? {} : { issuer: this.spec.issuer }),
      ...(this.spec.audience === undefined ? {} : { audience: this.spec.audience }),
    };
    try {
      const key = this.file === undefined ? this.key : await this.file.resolver();
      if (key === undefined) return { ok: false, reason: "no key configured", missing: false };
      const { payload } =
        typeof key === "function" ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options);
      return { ok: true, claims: payload };
    } catch (error) {
      return { ok: false, reason: reasonOf(error), missing: false };
    }
  }
}

/** A short fingerprint of a token for correlating log lines, never the token. */
export function tokenFingerprint(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 12);
}
