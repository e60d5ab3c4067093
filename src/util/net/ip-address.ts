// IP address text as the gateway compares it: one spelling per address, so that per-client keys (rate limits,
// connection counts, hashing, filters) cannot be split by writing the same address differently.
import { BlockList, isIP } from "node:net";

/** `::ffff:a.b.c.d` written in hex groups, as WHATWG URL canonicalises it. */
const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

function canonicalIPv6(text: string): string {
  // URL parsing gives RFC 5952's form (lowercase, longest zero run compressed) for free.
  const canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const mapped = MAPPED_HEX.exec(canonical);
  if (mapped === null) return canonical;
  const high = parseInt(mapped[1] ?? "0", 16);
  const low = parseInt(mapped[2] ?? "0", 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * The canonical text of a bare IPv4 or IPv6 address (IPv4-mapped IPv6 as IPv4), or undefined when `text` is not
 * exactly one. Zone ids (`fe80::1%eth0`) are refused: they name an interface of the sender, not a client.
 */
export function canonicalIp(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6 || text.includes("%")) return undefined;
  return canonicalIPv6(text);
}

/**
 * A socket's peer address as the gateway names it (127.0.0.1, not ::ffff:127.0.0.1). The kernel already writes
 * addresses in canonical form: only the IPv4-mapped prefix needs taking off, on every request, so no parsing here.
 */
export function peerAddress(address: string | undefined): string {
  if (address === undefined) return "";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/**
 * An address and port as status views and logs show them: `127.0.0.1:8080` (no `::ffff:`), `[::1]:8080`, and
 * `*:8080` for the dual-stack wildcard `::` (`0.0.0.0:8080` stays: it takes IPv4 only).
 */
export function endpointText(address: string | undefined, port: number | undefined): string {
  const host = peerAddress(address);
  const shown = host === "::" ? "*" : host.includes(":") ? `[${host}]` : host;
  return `${shown}:${port ?? ""}`;
}

/** A list of addresses and CIDR ranges (already validated by the config schema) that an address can be checked in. */
export class AddressSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(entries: readonly string[]) {
    this.size = entries.length;
    for (const entry of entries) {
      const [address = "", prefix] = entry.trim().split("/");
      const type = isIP(address) === 6 ? "ipv6" : "ipv4";
      if (prefix === undefined) this.list.addAddress(address, type);
      else this.list.addSubnet(address, Number(prefix), type);
    }
  }

  /** Whether `ip` (canonical, see canonicalIp) is in the set; anything that is not an address is not. */
  has(ip: string): boolean {
    if (this.size === 0) return false;
    const family = isIP(ip);
    if (family === 0) return false;
    return this.list.check(ip, family === 6 ? "ipv6" : "ipv4");
  }
}
