/**
 * The wss:// scenarios' certificate: ECDSA P-256, self-signed for localhost and 127.0.0.1, made with openssl at
 * bench start into a temporary directory (removed with the run's; no key is ever committed). HAProxy wants the
 * certificate and its key in one file: `pemFile`.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const CERT_SERVERNAME = "localhost";

export interface BenchCertificate {
  certFile: string;
  keyFile: string;
  /** Certificate then key, for HAProxy's `crt`. */
  pemFile: string;
  /** The certificate, PEM: the clients' CA (it is self-signed). */
  certPem: string;
}

/** The openssl arguments that make the pair (one command: key and self-signed certificate, valid 2 days). */
export function opensslArguments(certFile: string, keyFile: string): string[] {
  return [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "2",
    "-subj",
    `/CN=${CERT_SERVERNAME}`,
    "-addext",
    `subjectAltName=DNS:${CERT_SERVERNAME},IP:127.0.0.1`,
  ];
}

/** Makes the pair in `dir` (which the caller removes); throws with openssl's message when it fails. */
export function makeCertificate(dir: string): BenchCertificate {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const pemFile = join(dir, "cert-and-key.pem");
  try {
    execFileSync("openssl", opensslArguments(certFile, keyFile), {
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 20_000,
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`openssl could not make the bench certificate: ${stderr || (error as Error).message}`);
  }
  const certPem = readFileSync(certFile, "utf8");
  writeFileSync(pemFile, `${certPem}${readFileSync(keyFile, "utf8")}`, { mode: 0o600 });
  return { certFile, keyFile, pemFile, certPem };
}

/** "ECDSA prime256v1": what the certificate's key is, to check and report. */
export function describeKey(certPem: string): string {
  const key = new X509Certificate(certPem).publicKey;
  const type = key.asymmetricKeyType === "ec" ? "ECDSA" : (key.asymmetricKeyType ?? "unknown");
  return `${type} ${key.asymmetricKeyDetails?.namedCurve ?? ""}`.trim();
}
