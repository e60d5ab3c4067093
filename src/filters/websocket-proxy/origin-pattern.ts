import { domainToASCII } from "node:url";

/**
 * `originPatterns`, compiled once per filter. A pattern is `[scheme://]host[:port]`:
 * - with a scheme (`https://*.example.com`, `chrome-extension://abcdef`), the origin's scheme must be that one, and
 *   without a port the origin must use the scheme's default port (`:*` allows any port);
 * - without one (`*.example.com`, `example.org:8443`), the origin's scheme must be http or https, and without a port
 *   any port matches (as before schemes were compared);
 * - in the host, `*` stands for one or more whole DNS labels and `?` for one character of a label; names are
 *   compared in ASCII (an IDN pattern is converted to punycode, as browsers send it).
 */
export interface OriginPattern {
  /** Lowercase scheme without `:`, or undefined for http and https. */
  scheme: string | undefined;
  host: RegExp;
  /** A port number as text, `*` for any, or undefined (see above). */
  port: string | undefined;
}

const PATTERN_SHAPE = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\[[0-9a-f:.]+\]|[^/:@?#[\]\s]+)(?::(\d{1,5}|\*))?$/i;
const BARE_SCHEMES = new Set(["http", "https"]);
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: "80", https: "443", ws: "80", wss: "443" };
const LABEL = "[a-z0-9_-]+";
/** What each glob character stands for in the host's regular expression; other specials are escaped. */
const GLOB_SOURCE: Readonly<Record<string, string>> = { "*": `${LABEL}(?:\\.${LABEL})*`, "?": "[a-z0-9_-]" };

/** The pattern, or why it is not one. */
export function parseOriginPattern(text: string): OriginPattern | string {
  const shape = PATTERN_SHAPE.exec(text.trim());
  if (shape === null) {
    return `invalid origin pattern '${text}' (expected [scheme://]host[:port], e.g. https://*.example.com or example.org:8443)`;
  }
  const [, scheme, host = "", port] = shape;
  const labels: string[] = [];
  for (const label of host.toLowerCase().split(".")) {
    if (/^[*?a-z0-9_-]*$/.test(label) || label.startsWith("[")) {
      labels.push(label);
      continue;
    }
    const ascii = domainToASCII(label);
    if (ascii === "") return `invalid host name '${host}' in origin pattern '${text}'`;
    labels.push(ascii);
  }
  const source = labels.join(".").replace(/[.+^${}()|[\]\\*?]/g, (char) => GLOB_SOURCE[char] ?? `\\${char}`);
  if (port !== undefined && port !== "*" && Number(port) > 65535) return `invalid port in origin pattern '${text}'`;
  return { scheme: scheme?.toLowerCase(), host: new RegExp(`^${source}$`), port };
}

/** The parts of an `Origin` header that patterns compare; undefined when it is not a serialized origin. */
interface OriginParts {
  scheme: string;
  host: string;
  /** The explicit port, '' when the scheme's default (or none). */
  port: string;
}

/**
 * Reads `Origin` as browsers send it (RFC 6454 §6.2): `scheme://host[:port]` in ASCII, no default port, no path,
 * user info, query or fragment. `null`, opaque and malformed values are undefined.
 */
function originParts(origin: string): OriginParts | undefined {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return undefined;
  }
  if (url.host === "") return undefined;
  // Whatever the parser had to drop or rewrite (a path, user info, a default port, non-ASCII) is not an origin.
  if (`${url.protocol}//${url.host}`.toLowerCase() !== origin.toLowerCase()) return undefined;
  return { scheme: url.protocol.slice(0, -1).toLowerCase(), host: url.hostname.toLowerCase(), port: url.port };
}

function matches(pattern: OriginPattern, origin: OriginParts): boolean {
  if (pattern.scheme === undefined ? !BARE_SCHEMES.has(origin.scheme) : pattern.scheme !== origin.scheme) {
    return false;
  }
  if (!pattern.host.test(origin.host)) return false;
  if (pattern.port === "*") return true;
  if (pattern.port === undefined) return pattern.scheme === undefined || origin.port === "";
  return (origin.port === "" ? DEFAULT_PORTS[origin.scheme] : origin.port) === pattern.port;
}

/** Whether the `Origin` header value is allowed by one of `patterns` (`null` and non-origins never are). */
export function originAllowed(origin: string, patterns: readonly OriginPattern[]): boolean {
  const parts = originParts(origin);
  return parts !== undefined && patterns.some((pattern) => matches(pattern, parts));
}

/** Patterns of a spec the schema has checked (an invalid one there is a config error). */
export function compileOriginPatterns(texts: readonly string[]): OriginPattern[] {
  return texts.map((text) => {
    const pattern = parseOriginPattern(text);
    if (typeof pattern === "string") throw new Error(pattern);
    return pattern;
  });
}
