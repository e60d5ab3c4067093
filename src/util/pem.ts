import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * PEM text from a config value that is either PEM itself or base64 of it (Easegress writes base64). Returns undefined
 * when the value is neither.
 */
export function pemFromConfig(value: string): string | undefined {
  if (value.includes("-----BEGIN ")) return value;
  const compact = value.replace(/\s+/g, "");
  if (compact === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  const decoded = Buffer.from(compact, "base64").toString("utf8");
  return decoded.includes("-----BEGIN ") ? decoded : undefined;
}

/** The certificates of a PEM bundle, in order (a chain: leaf first; a CA file: every CA). */
export function certificatesOf(pem: string): X509Certificate[] {
  const blocks = [...pem.matchAll(PEM_BLOCK)].filter((match) => match[1] === "CERTIFICATE");
  return blocks.map((match) => new X509Certificate(match[0]));
}

/** A certificate chain and its private key, checked to belong together. */
export interface CertificatePair {
  certPem: string;
  keyPem: string;
  /** The leaf certificate. */
  leaf: X509Certificate;
  key: KeyObject;
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^error:[0-9A-F]+:/i, "");
}

/** Parses and checks a pair; the error message says which part is wrong and why. */
export function parsePair(certPem: string, keyPem: string): CertificatePair {
  let chain: X509Certificate[];
  try {
    chain = certificatesOf(certPem);
  } catch (error) {
    throw new Error(`certificate: not a valid PEM certificate (${reasonOf(error)})`, { cause: error });
  }
  const leaf = chain[0];
  if (leaf === undefined)
    throw new Error("certificate: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)");
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new Error(`key: not a valid unencrypted PEM private key (${reasonOf(error)})`, { cause: error });
  }
  if (!leaf.checkPrivateKey(key)) throw new Error("key: does not match the certificate");
  return { certPem, keyPem, leaf, key };
}

/** Why a CA bundle cannot be used, or undefined when it holds at least one certificate. */
export function caBundleProblem(pem: string): string | undefined {
  try {
    return certificatesOf(pem).length === 0
      ? "no PEM certificate found (expected -----BEGIN CERTIFICATE-----)"
      : undefined;
  } catch (error) {
    return `not a valid PEM certificate (${reasonOf(error)})`;
  }
}
