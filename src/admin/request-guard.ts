// The admin API's own boundary, checked before the token and before any route: the request must name this listener
// (Host, against DNS rebinding), come from no browser page or from the listener's own origin (Origin, against
// cross-site requests), and a write must declare a JSON or YAML body (a cross-site form cannot). No CORS is offered.
import type { IncomingMessage } from "node:http";
import { HOST_AUTHORITY, canonicalHost, hostsReaching, isLoopbackHost } from "../util/net/admin-address.js";
import { DuplicateHostError, ForeignOriginError, MisdirectedHostError, UnsupportedMediaTypeError } from "./errors.js";

/** Who the admin listener is, as requests may name it. */
export interface AdminListenerIdentity {
  scheme: "http" | "https";
  /** The address and port it is bound to. */
  boundHost: string;
  port: number;
  /** The host it was told to listen on (`--admin-address localhost:2381` says localhost). */
  configuredHost: string;
  /** More names it answers to (`adminAllowedHosts`, `--admin-host`): `NAME` (at its port) or `NAME:PORT`. */
  allowedHosts: readonly string[];
}

const DEFAULT_PORTS = { http: 80, https: 443 } as const;

/** "host:port" as compared: canonical host, explicit port; undefined when `text` is no authority. */
function authorityKey(
  text: string,
  scheme: "http" | "https",
  defaultPort: number = DEFAULT_PORTS[scheme],
): string | undefined {
  if (!HOST_AUTHORITY.test(text)) return undefined;
  const separator = text.lastIndexOf(":");
  const hasPort = separator > text.lastIndexOf("]");
  const host = canonicalHost(hasPort ? text.slice(0, separator) : text);
  const port = hasPort ? Number(text.slice(separator + 1)) : defaultPort;
  if (host === undefined || port > 65535) return undefined;
  return `${host}:${port}`;
}

/** The Host, Origin and Content-Type rules of one admin listener, its allowed names computed once. */
export class AdminRequestGuard {
  private readonly allowed = new Set<string>();
  private readonly loopback: boolean;

  constructor(private readonly identity: AdminListenerIdentity) {
    const { port, scheme } = identity;
    const reaching = hostsReaching(identity.boundHost);
    const configured = canonicalHost(identity.configuredHost);
    if (configured !== undefined) reaching.add(configured);
    for (const host of reaching) this.allowed.add(`${host}:${port}`);
    for (const entry of identity.allowedHosts) {
      const key = authorityKey(entry, scheme, port);
      if (key !== undefined) this.allowed.add(key);
    }
    this.loopback = reaching.has("localhost");
  }

  /** Throws unless every authority the request names (Host, and an absolute-form target's) is this listener. */
  checkHost(request: IncomingMessage): string {
    const hosts = request.headersDistinct["host"] ?? [];
    if (hosts.length > 1) throw new DuplicateHostError();
    const host = hosts[0];
    if (host === undefined || !this.names(host)) throw new MisdirectedHostError(host);
    const target = request.url ?? "/";
    if (!target.startsWith("/") && target !== "*") {
      let authority: string | undefined;
      try {
        authority = new URL(target).host;
      } catch {
        authority = undefined;
      }
      if (authority === undefined || !this.names(authority)) throw new MisdirectedHostError(authority ?? target);
    }
    return host;
  }

  private names(text: string): boolean {
    const key = authorityKey(text, this.identity.scheme);
    if (key === undefined) return false;
    if (this.allowed.has(key)) return true;
    // Any loopback spelling (127.0.0.2, [::ffff:127.0.0.1]) reaches a loopback or wildcard bind.
    const separator = key.lastIndexOf(":");
    return (
      this.loopback &&
      key.slice(separator + 1) === String(this.identity.port) &&
      isLoopbackHost(key.slice(0, separator))
    );
  }

  /** Throws unless the request carries no Origin, or exactly this listener's origin as the request's Host names it. */
  checkOrigin(request: IncomingMessage, host: string): void {
    const origins = request.headersDistinct["origin"] ?? [];
    if (origins.length === 0) return;
    const [origin = ""] = origins;
    if (origins.length > 1) throw new ForeignOriginError(origins.join(", "));
    const own = new URL(`${this.identity.scheme}://${host}`).origin;
    let given: URL | undefined;
    try {
      given = new URL(origin);
    } catch {
      given = undefined;
    }
    const plain = given !== undefined && given.username === "" && given.pathname === "/" && given.search === "";
    if (!plain || given?.origin !== own || given.hash !== "") throw new ForeignOriginError(origin);
  }
}

/** The media types a body may be declared as: what `wsgate apply` and egctl send. */
const BODY_TYPES = new Set(["application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"]);

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const MEDIA_TYPE = new RegExp(`^\\s*(${TOKEN}/${TOKEN})\\s*((?:;.*)?)$`);
const PARAMETER = new RegExp(`^\\s*(${TOKEN})\\s*=\\s*("(?:[^"\\\\]|\\\\.)*"|${TOKEN})\\s*$`);

/** Whether `contentType` declares a JSON or YAML body, in UTF-8 if a charset is named. */
export function isObjectMediaType(contentType: string): boolean {
  const match = MEDIA_TYPE.exec(contentType);
  if (match === null || !BODY_TYPES.has((match[1] ?? "").toLowerCase())) return false;
  const parameters = (match[2] ?? "").split(";").slice(1);
  return parameters.every((parameter) => {
    const found = PARAMETER.exec(parameter);
    if (found === null) return false;
    if ((found[1] ?? "").toLowerCase() !== "charset") return true;
    return (found[2] ?? "").replace(/^"|"$/g, "").toLowerCase() === "utf-8";
  });
}

const WRITE_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** A write (or any request with a body) must declare JSON or YAML; a form or text/plain post is refused with 415. */
export function checkContentType(request: IncomingMessage): void {
  const length = Number(request.headers["content-length"] ?? 0);
  const hasBody = request.headers["transfer-encoding"] !== undefined || !(length === 0);
  if (!WRITE_METHODS.has(request.method ?? "") && !hasBody) return;
  const contentType = request.headers["content-type"];
  if (contentType === undefined || !isObjectMediaType(contentType)) throw new UnsupportedMediaTypeError(contentType);
}
