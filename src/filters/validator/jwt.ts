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
import { paramKey } from "../../util/param-key.js";
import type { JwtSpec } from "./spec.js";

/** A token check's outcome: the claims, or why the token was refused (never the token itself). */
export type JwtOutcome =
  | { ok: true; claims: JWTPayload }
  | { ok: false; reason: string; missing: boolean; duplicate?: undefined }
  | { ok: false; duplicate: string };

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

function bearerTokens(req: IncomingMessage): string[] {
  const tokens: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== "authorization") continue;
    const match = /^Bearer[ \t]+(\S+)\s*$/i.exec(raw[i + 1] as string);
    if (match?.[1] !== undefined) tokens.push(match[1]);
  }
  return tokens;
}

/** Every value of cookie `name`, in every Cookie header. */
function cookieValues(req: IncomingMessage, name: string): string[] {
  const key = paramKey(name);
  const values: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== "cookie") continue;
    for (const part of (raw[i + 1] as string).split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && paramKey(part.slice(0, eq).trim()) === key) {
        values.push(decodeURIComponentSafe(part.slice(eq + 1).trim()));
      }
    }
  }
  return values;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Every value of query parameter `name`, split on `;` as well as `&` as some frameworks still do. */
function queryValues(req: IncomingMessage, name: string): string[] {
  const url = req.url ?? "";
  const query = url.indexOf("?");
  if (query < 0) return [];
  const key = paramKey(name);
  const values: string[] = [];
  for (const piece of url.slice(query + 1).split(/[&;]/)) {
    for (const [param, value] of new URLSearchParams(piece)) if (paramKey(param) === key) values.push(value);
  }
  return values;
}

/** The request's token, or where a second copy of it was found (the backend could read the other one). */
export type TokenSearch = { token: string | undefined; duplicate?: undefined } | { duplicate: string };

/** Why jose refused a token, in words fit for a log line. */
function reasonOf(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "token expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return `claim '${error.claim}' check failed: ${error.reason}`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "signature verification failed";
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "no key in the JWKS matches the token";
  // jose's messages can quote the token's own header fields: only the code goes to logs and answers.
  if (error instanceof joseErrors.JOSEError) return `malformed or unsupported token (${error.code})`;
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

  /**
   * The token from `Authorization: Bearer`, the cookie or the query parameter. Two copies in one source, or different
   * values in two sources, are a duplicate: what the gateway checks must be the only token the backend can read.
   */
  tokenOf(req: IncomingMessage): TokenSearch {
    const { cookieName, queryParam } = this.spec;
    const sources: Array<[string, string[]]> = [["Authorization", bearerTokens(req)]];
    if (cookieName !== undefined) sources.push([`cookie ${cookieName}`, cookieValues(req, cookieName)]);
    if (queryParam !== undefined) sources.push([`query parameter ${queryParam}`, queryValues(req, queryParam)]);
    let token: string | undefined;
    for (const [where, copies] of sources) {
      if (copies.length > 1) return { duplicate: where };
      const copy = copies[0];
      if (copy === undefined) continue;
      if (token !== undefined && copy !== token) return { duplicate: `differing tokens, one in ${where}` };
      token ??= copy;
    }
    return { token };
  }

  async verify(req: IncomingMessage): Promise<JwtOutcome> {
    const search = this.tokenOf(req);
    if (search.duplicate !== undefined) return { ok: false, duplicate: search.duplicate };
    const token = search.token;
    if (token === undefined || token === "") return { ok: false, reason: "no token", missing: true };
    return this.verifyToken(token);
  }

  /** Checks one token (from a request, or a renewal message) as `spec` says. */
  async verifyToken(token: string): Promise<JwtOutcome> {
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
