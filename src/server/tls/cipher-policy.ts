// What TLS a client may speak: the default cipher list, its check, and renegotiation refused.
import { constants } from "node:crypto";
import tls from "node:tls";

/**
 * Mozilla's "intermediate" configuration (v5.7): ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 on TLS 1.2 (no
 * static RSA, no CBC, no SHA-1 MACs; the DHE suites are left out, as Node has no DH parameters by default), and the
 * three TLS 1.3 suites. Node takes both kinds in one list; a list without `TLS_*` names leaves OpenSSL's TLS 1.3 suites.
 */
export const DEFAULT_CIPHERS = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/**
 * Client-initiated renegotiation is refused (OpenSSL answers with a no_renegotiation alert): it costs the server a
 * full handshake per request of the client's, and it has no use for WebSocket traffic.
 */
export const SECURE_OPTIONS = constants.SSL_OP_NO_RENEGOTIATION;

/**
 * Why `list` cannot be a `ciphers` value, or undefined when it can. OpenSSL skips words it does not know as long as
 * one matches, so each entry is tried alone: a typo is an error here, not a cipher silently missing.
 */
export function cipherListProblem(list: string): string | undefined {
  const entries = list.split(/[:,\s]+/).filter((entry) => entry.length > 0);
  if (entries.length === 0) return "names no cipher";
  const known = new Set(tls.getCiphers());
  for (const entry of entries) {
    // `!X`, `-X` and `+X` remove or move what X names; `@STRENGTH`-style commands sort.
    if (entry.startsWith("@")) continue;
    const name = entry.replace(/^[!+-]/, "");
    if (known.has(name.toLowerCase())) continue;
    try {
      tls.createSecureContext({ ciphers: name });
    } catch {
      return `'${entry}' is no cipher or cipher family OpenSSL knows`;
    }
  }
  try {
    tls.createSecureContext({ ciphers: list });
  } catch {
    return "leaves no cipher";
  }
  return undefined;
}
