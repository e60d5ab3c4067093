import { BlockList, isIP } from "node:net";
import { hostname, networkInterfaces } from "node:os";

/** Where the admin API listens: a host and port, or nowhere. */
export type AdminAddress = { host: string; port: number } | "off";

export const DEFAULT_ADMIN_ADDRESS = "127.0.0.1:2381";

/** "HOST:PORT", "[::1]:PORT" or "off"; throws with a message fit for users. */
export function parseAdminAddress(text: string): AdminAddress {
  if (text === "off") return "off";
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port > 65535) {
    throw new Error(`admin address '${text}' is not HOST:PORT (e.g. 127.0.0.1:2381, [::1]:2381) or 'off'`);
  }
  return { host, port };
}

/** Only these hosts may serve the admin API without a token: nothing else on the network can reach them. */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/**
 * What a `Host` header (and an `adminAllowedHosts` entry) may look like: a reg-name, an IPv4 or a bracketed IPv6, and
 * an optional port. Nothing else (userinfo, paths, zone ids, spaces) passes.
 */
export const HOST_AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::\d{1,5})?$/;

const loopbackRanges = new BlockList();
loopbackRanges.addSubnet("127.0.0.0", 8, "ipv4");
loopbackRanges.addAddress("::1", "ipv6");

/** Hosts (as the URL parser writes them) that reach every address of this machine when connected to. */
const WILDCARD_HOSTS = new Set(["0.0.0.0", "[::]"]);

/**
 * A host as the WHATWG URL parser writes it: lower case, IPv4 in dotted decimal whatever its spelling (127.1,
 * 2130706433, 0x7f.0.0.1), IPv6 in brackets and compressed; undefined when it is no host.
 */
export function canonicalHost(host: string): string | undefined {
  const bare = host.startsWith("[") ? host : isIP(host) === 6 ? `[${host}]` : host;
  try {
    const url = new URL(`http://${bare}/`);
    return url.username === "" && url.port === "" && url.pathname === "/" ? url.hostname : undefined;
  } catch {
    return undefined;
  }
}

/** A canonical host that only this machine answers: localhost, 127.0.0.0/8, ::1 (also IPv4-mapped). */
export function isLoopbackHost(canonical: string): boolean {
  if (canonical === "localhost") return true;
  const ip = canonical.replace(/^\[|\]$/g, "");
  const family = isIP(ip);
  return family !== 0 && loopbackRanges.check(ip, family === 4 ? "ipv4" : "ipv6");
}

/** This machine's interface addresses, canonical. */
function interfaceHosts(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) =>
    (list ?? []).flatMap((info) => canonicalHost(info.address) ?? []),
  );
}

/**
 * Every host name under which a connection reaches a listener bound to `boundHost` on this machine: the bound
 * address itself, the wildcards (connecting to 0.0.0.0 reaches the local host), the loopback names when it is
 * loopback, and all interface addresses and the host name when it is a wildcard bind. Canonical, for set lookups.
 */
export function hostsReaching(boundHost: string): Set<string> {
  const bound = canonicalHost(boundHost);
  const hosts = new Set<string>(WILDCARD_HOSTS);
  if (bound !== undefined) hosts.add(bound);
  const wildcard = bound === undefined || WILDCARD_HOSTS.has(bound);
  if (wildcard || isLoopbackHost(bound)) for (const host of ["localhost", "127.0.0.1", "[::1]"]) hosts.add(host);
  if (wildcard) {
    for (const host of interfaceHosts()) hosts.add(host);
    const name = canonicalHost(hostname());
    if (name !== undefined) hosts.add(name);
  }
  return hosts;
}

/** Whether `host` (any spelling) names the listener bound to `boundHost` on this machine; loopback is one place. */
export function reachesListener(host: string, boundHost: string): boolean {
  const canonical = canonicalHost(host);
  if (canonical === undefined) return false;
  const reaching = hostsReaching(boundHost);
  if (reaching.has(canonical)) return true;
  // Any loopback spelling (127.0.0.2, ::ffff:127.0.0.1) reaches a loopback or wildcard bind.
  return isLoopbackHost(canonical) && reaching.has("localhost");
}
