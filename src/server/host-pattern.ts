// Host conditions of a route rule, compiled once: exact names, one-`*` wildcards and regexps.

/** Tests an already normalized request host (see normalizeRequestHost). */
export type HostMatcher = (host: string) => boolean;

/**
 * Reduces a raw Host header to the name routes compare against: port removed, IPv6 brackets removed,
 * trailing root dot removed, lowercased. Undefined when there is no usable host.
 */
export function normalizeRequestHost(raw: string | undefined): string | undefined {
  if (raw === undefined || raw.length === 0) return undefined;
  let host: string;
  if (raw.charCodeAt(0) === 0x5b /* [ */) {
    const close = raw.indexOf("]");
    if (close < 0) return undefined;
    host = raw.slice(1, close);
  } else {
    const colon = raw.indexOf(":");
    // A second colon means a bare IPv6 address, which has no port to strip.
    host = colon >= 0 && raw.indexOf(":", colon + 1) < 0 ? raw.slice(0, colon) : raw;
  }
  if (host.endsWith(".")) host = host.slice(0, -1);
  return host.length === 0 ? undefined : host.toLowerCase();
}

/** `example.com` matches exactly (case-insensitive); one `*` stands for one or more characters. */
export function compileHostPattern(pattern: string): HostMatcher {
  const name = normalizePatternHost(pattern);
  const star = name.indexOf("*");
  if (star < 0) return (host) => host === name;
  if (name.indexOf("*", star + 1) >= 0) {
    throw new Error(`host pattern ${JSON.stringify(pattern)} has more than one "*" wildcard`);
  }
  const prefix = name.slice(0, star);
  const suffix = name.slice(star + 1);
  // The wildcard must cover at least one character: `*.example.com` does not match `example.com`.
  const minLength = prefix.length + suffix.length + 1;
  return (host) => host.length >= minLength && host.startsWith(prefix) && host.endsWith(suffix);
}

/** Unanchored, case-insensitive test against the normalized host (no port, no IPv6 brackets). */
export function compileHostRegexp(source: string): HostMatcher {
  let regexp: RegExp;
  try {
    regexp = new RegExp(source, "i");
  } catch (error) {
    throw new Error(`invalid host regexp ${JSON.stringify(source)}: ${(error as Error).message}`, { cause: error });
  }
  return (host) => regexp.test(host);
}

// Patterns are written like Host headers may be (`[::1]`, `Example.COM.`); compare them in request form.
function normalizePatternHost(pattern: string): string {
  let name = pattern.toLowerCase();
  if (name.startsWith("[") && name.endsWith("]")) name = name.slice(1, -1);
  if (name.endsWith(".") && name.length > 1) name = name.slice(0, -1);
  return name;
}
