// The request-target, parsed and normalised once: routing, filters and the upstream request all see this one path.
import { RequestTargetError } from "../errors.js";

/** What a server accepts beyond plain RFC 3986 paths (HTTPServer `allowBackslash`, ...); all off by default. */
export interface PathPolicy {
  /** `\` is read as `/` (as WHATWG URL parsers do) instead of refused. */
  allowBackslash: boolean;
  /** `;` may appear in segments, kept as sent; a segment whose name before `;` is "", "." or ".." is still refused. */
  allowPathParameters: boolean;
  /** `%2F` and `%5C` are kept encoded (never separators) instead of refused. */
  allowEncodedSlash: boolean;
}

export const STRICT_PATHS: PathPolicy = { allowBackslash: false, allowPathParameters: false, allowEncodedSlash: false };

/** For text the operator wrote (rule paths, rewriteTarget): everything is allowed, only the form is normalised. */
export const CONFIG_PATHS: PathPolicy = { allowBackslash: true, allowPathParameters: true, allowEncodedSlash: true };

export interface RequestTarget {
  /** "asterisk": `OPTIONS *`, which no route serves. */
  form: "origin" | "absolute" | "asterisk";
  /**
   * "/"-rooted, dot segments removed (RFC 3986 §5.2.4), repeated slashes merged, escapes of unreserved characters
   * decoded, other escapes in uppercase hex, characters a path may not hold raw percent-encoded.
   */
  path: string;
  /** "?query" exactly as received, or "" when there is none. */
  search: string;
}

/**
 * Parses a request-target (RFC 9112 §3.2) and normalises its path under `policy`; refused targets are returned as
 * errors (400). Absolute-form must name the authority the Host header names.
 */
export function parseRequestTarget(
  raw: string,
  method: string,
  host: string | undefined,
  policy: PathPolicy,
): RequestTarget | RequestTargetError {
  if (raw.includes("#")) return new RequestTargetError("WSG_TARGET_MALFORMED", "a request target has no fragment");
  if (raw === "*") {
    if (method === "OPTIONS") return { form: "asterisk", path: "*", search: "" };
    return new RequestTargetError("WSG_TARGET_MALFORMED", "'*' is a target for OPTIONS only");
  }
  if (raw.charCodeAt(0) === SLASH) return originForm(raw, "origin", policy);
  const absolute = ABSOLUTE_FORM.exec(raw);
  if (absolute === null) return new RequestTargetError("WSG_TARGET_MALFORMED", "request target is not a path");
  const [prefix, scheme = "", authority = ""] = absolute;
  // User information, or a "\\" that WHATWG URL would read as the start of the path.
  if (authority.includes("@") || authority.includes("\\")) {
    return new RequestTargetError("WSG_TARGET_MALFORMED", "malformed authority in request target");
  }
  if (host === undefined || canonicalAuthority(scheme, authority) !== canonicalAuthority(scheme, host)) {
    return new RequestTargetError("WSG_TARGET_AUTHORITY_MISMATCH", "absolute-form target names another host");
  }
  const rest = raw.slice(prefix.length);
  // "http://h" and "http://h?q" address "/".
  return originForm(rest.charCodeAt(0) === SLASH ? rest : "/" + rest, "absolute", policy);
}

/** Normalises a "/"-rooted path (no query) under `policy`, as parseRequestTarget does. */
export function normalizePath(path: string, policy: PathPolicy): string | RequestTargetError {
  const escaped = normalizeCharacters(path, policy);
  return typeof escaped === "string" ? removeDotSegments(escaped, policy) : escaped;
}

function originForm(
  target: string,
  form: "origin" | "absolute",
  policy: PathPolicy,
): RequestTarget | RequestTargetError {
  const question = target.indexOf("?");
  const rawPath = question < 0 ? target : target.slice(0, question);
  const path = normalizePath(rawPath, policy);
  if (typeof path !== "string") return path;
  return { form, path, search: question < 0 ? "" : target.slice(question) };
}

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const SEMICOLON = 0x3b;
// Scheme, then the authority up to the path, query or end.
const ABSOLUTE_FORM = /^((?:https?|wss?)):\/\/([^/?#]+)/i;
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: ":80", ws: ":80", https: ":443", wss: ":443" };

// Host names compare case-insensitively, and "h:80" is "h" for http.
function canonicalAuthority(scheme: string, authority: string): string {
  const lower = authority.toLowerCase();
  const defaultPort = DEFAULT_PORTS[scheme.toLowerCase()] ?? "";
  return lower.endsWith(defaultPort) ? lower.slice(0, lower.length - defaultPort.length) : lower;
}

const HEX_DIGITS = "0123456789ABCDEF";

/** Step one: every escape checked and brought to one spelling; `\` and `;` refused or allowed; raw oddities encoded. */
function normalizeCharacters(path: string, policy: PathPolicy): string | RequestTargetError {
  // Most paths need nothing here: copy only from the first character that does.
  let first = 0;
  while (first < path.length && isPlain(path.charCodeAt(first))) first++;
  if (first === path.length) return path;
  let out = path.slice(0, first);
  for (let index = first; index < path.length; index++) {
    const code = path.charCodeAt(index);
    if (code === PERCENT) {
      const high = hexValue(path.charCodeAt(index + 1));
      const low = hexValue(path.charCodeAt(index + 2));
      if (high < 0 || low < 0)
        return new RequestTargetError("WSG_TARGET_MALFORMED", "malformed percent-escape in path");
      index += 2;
      const byte = high * 16 + low;
      if (isUnreserved(byte)) {
        out += String.fromCharCode(byte);
        continue;
      }
      if (byte < 0x20 || byte === 0x7f) {
        return new RequestTargetError("WSG_TARGET_CONTROL", "encoded control character in path");
      }
      if ((byte === SLASH || byte === BACKSLASH) && !policy.allowEncodedSlash) {
        return new RequestTargetError("WSG_TARGET_ENCODED_SLASH", "encoded '/' or '\\' in path");
      }
      out += "%" + HEX_DIGITS.charAt(high) + HEX_DIGITS.charAt(low);
    } else if (code === BACKSLASH) {
      if (!policy.allowBackslash) return new RequestTargetError("WSG_TARGET_BACKSLASH", "'\\' in path");
      out += "/";
    } else if (code === SEMICOLON && !policy.allowPathParameters) {
      return new RequestTargetError("WSG_TARGET_PATH_PARAMETER", "';' in path");
    } else if (code < 0x20 || code === 0x7f) {
      return new RequestTargetError("WSG_TARGET_CONTROL", "control character in path");
    } else if (code >= 0x80) {
      // Node refuses raw non-ASCII in request targets: this is operator text, encoded as UTF-8 like WHATWG URL does.
      const point = path.codePointAt(index) ?? code;
      if (point >= 0xd800 && point <= 0xdfff) {
        return new RequestTargetError("WSG_TARGET_MALFORMED", "lone surrogate in path");
      }
      const character = String.fromCodePoint(point);
      out += encodeURIComponent(character);
      index += character.length - 1;
    } else if (RAW_UNSAFE.includes(path.charAt(index))) {
      out += "%" + HEX_DIGITS.charAt(code >> 4) + HEX_DIGITS.charAt(code & 0xf);
    } else {
      out += path.charAt(index);
    }
  }
  return out;
}

// Characters a path may not hold raw (RFC 3986) that parsers escape differently or not at all.
const RAW_UNSAFE = ' "<>`{}|^';

/**
 * Step two, RFC 3986 §5.2.4 on whole segments: "." dropped, ".." drops the segment before it (never above the root),
 * and empty segments merged (so "//admin" is "/admin"); a trailing "/", "/." or "/.." leaves a trailing slash.
 */
function removeDotSegments(path: string, policy: PathPolicy): string | RequestTargetError {
  const rooted = path.charCodeAt(0) === SLASH;
  if (rooted && !path.includes("/.") && !path.includes("//") && !(policy.allowPathParameters && path.includes(";"))) {
    return path;
  }
  const kept: string[] = [];
  const segments = path.split("/");
  let trailingSlash = false;
  // With a leading slash, segments[0] is the "" before it.
  for (let index = rooted ? 1 : 0; index < segments.length; index++) {
    const segment = segments[index] ?? "";
    trailingSlash = segment === "" || segment === "." || segment === "..";
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      kept.pop();
      continue;
    }
    if (policy.allowPathParameters && !plainSegmentName(segment)) {
      return new RequestTargetError("WSG_TARGET_PATH_PARAMETER", "path parameter on an empty or dot segment");
    }
    kept.push(segment);
  }
  if (kept.length === 0) return "/";
  return "/" + kept.join("/") + (trailingSlash ? "/" : "");
}

// "..;x" or ";x" reads as ".." or "" to servers that strip parameters (Tomcat, Jetty): such a segment is ambiguous.
function plainSegmentName(segment: string): boolean {
  const semicolon = segment.indexOf(";");
  if (semicolon < 0) return true;
  const name = segment.slice(0, semicolon);
  return name !== "" && name !== "." && name !== "..";
}

// Printable ASCII that step one leaves as it is: not "%", "\\", ";" nor one of RAW_UNSAFE.
const PLAIN = new Uint8Array(0x80).map((_, code) =>
  code > 0x20 &&
  code < 0x7f &&
  !"%\\;".includes(String.fromCharCode(code)) &&
  !RAW_UNSAFE.includes(String.fromCharCode(code))
    ? 1
    : 0,
);

function isPlain(code: number): boolean {
  return code < 0x80 && PLAIN[code] === 1;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

// ALPHA / DIGIT / "-" / "." / "_" / "~"
function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d ||
    byte === 0x2e ||
    byte === 0x5f ||
    byte === 0x7e
  );
}
