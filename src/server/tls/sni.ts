import type { X509Certificate } from "node:crypto";

/**
 * The host names a certificate serves, lower case: its DNS subject alternative names, or its subject's common name
 * when it has none (old certificates). IP addresses are left out: SNI never carries them.
 */
export function namesOf(cert: X509Certificate): string[] {
  const san = cert.subjectAltName ?? "";
  const dns = [...san.matchAll(/(?:^|, )DNS:("(?:[^"\\]|\\.)*"|[^,]*)/g)].map((match) =>
    (match[1] ?? "").replace(/^"|"$/g, "").toLowerCase(),
  );
  if (dns.length > 0) return [...new Set(dns.filter((name) => name !== ""))];
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return cn === undefined || cn === "" ? [] : [cn.toLowerCase()];
}

/**
 * Picks an entry for a server name: an exact name first, then a wildcard (`*.example.com` covers one label:
 * `a.example.com`, not `example.com` nor `a.b.example.com`), else the default, the first entry added. Among entries
 * naming the same host the first added wins.
 */
export class SniTable<T> {
  private readonly exact = new Map<string, T>();
  private readonly wildcard = new Map<string, T>();
  private first: T | undefined;

  add(names: readonly string[], entry: T): void {
    this.first ??= entry;
    for (const name of names) {
      if (name.startsWith("*.")) {
        const suffix = name.slice(2);
        if (!this.wildcard.has(suffix)) this.wildcard.set(suffix, entry);
      } else if (!this.exact.has(name)) {
        this.exact.set(name, entry);
      }
    }
  }

  /** The entry for `serverName`; undefined only when the table is empty. */
  lookup(serverName: string | undefined): T | undefined {
    if (serverName === undefined || serverName === "") return this.first;
    const name = serverName.toLowerCase().replace(/\.$/, "");
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf(".");
    const wildcard = dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined;
    return wildcard ?? this.first;
  }
}
