import type { X509Certificate } from "node:crypto";
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { headerKey } from "./header-key.js";

/**
 * Headers the gateway sets itself from the client's TLS connection. `names` (lower case) are removed from what the
 * client sent, whether or not `values` has them, so that a client cannot pose as a certificate it does not hold.
 */
export interface ClientCertHeaders {
  names: readonly string[];
  values: ReadonlyArray<readonly [string, string]>;
}

/** Escapes what may not stand in a header value, RFC 4514 style: each UTF-8 byte outside printable ASCII as `\XX`. */
function escapeNonAscii(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code >= 0x20 && code < 0x7f) out += char;
    else for (const byte of Buffer.from(char, "utf8")) out += `\\${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * A certificate's subject as RFC 4514 writes a distinguished name: most specific first, comma-separated, for example
 * `CN=alice,OU=ops,O=Example`. (Node gives the RDNs in certificate order, one per line, values already escaped.)
 */
export function subjectText(cert: X509Certificate): string {
  const rdns = cert.subject.split("\n").filter((rdn) => rdn !== "");
  return escapeNonAscii(
    rdns
      .reverse()
      .map((rdn) => rdn.replace(/ \+ /g, "+"))
      .join(","),
  );
}

/** The verified client certificate of `socket`, if it is a TLS socket whose client presented one that verified. */
export function verifiedClientCert(socket: Socket): X509Certificate | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  return socket.getPeerX509Certificate();
}

/** The configured headers for one connection. */
export function clientCertHeaders(
  config: { subject?: string | undefined; fingerprint?: string | undefined },
  socket: Socket,
): ClientCertHeaders {
  const names: string[] = [];
  const values: Array<[string, string]> = [];
  const cert = verifiedClientCert(socket);
  if (config.subject !== undefined) {
    names.push(config.subject.toLowerCase());
    if (cert !== undefined) values.push([config.subject, subjectText(cert)]);
  }
  if (config.fingerprint !== undefined) {
    names.push(config.fingerprint.toLowerCase());
    if (cert !== undefined) values.push([config.fingerprint, cert.fingerprint256]);
  }
  return { names, values };
}

/**
 * The backend's request headers with the certificate headers set last: they win over a filter's header of the same
 * name. (The client's own copies never got this far: the context owns these names, see `OwnedHeaders`.)
 */
export function withClientCertHeaders(
  headers: ReadonlyArray<readonly [string, string]>,
  cert: ClientCertHeaders | undefined,
): Array<readonly [string, string]> {
  if (cert === undefined) return [...headers];
  const names = new Set(cert.names.map(headerKey));
  return [...headers.filter(([name]) => !names.has(headerKey(name))), ...cert.values];
}
