// The certificate files an HTTPServer names, read and checked as `wsgate run` reads them when it starts its TLS
// listeners (src/server/tls/termination.ts), so that `validate` finds what would stop `run`, at the field that names
// the file. No listener is opened.
import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import { caBundleProblem, parsePair } from "../server/tls/pem.js";
import type { CrossReport } from "./cross-check.js";
import type { LoadedObject } from "./loaded-object.js";
import { isRecord, mapsIn } from "./plain-data.js";
import { readProblem } from "./sources.js";

export interface TlsFileReports {
  errors: CrossReport[];
  warnings: CrossReport[];
}

type Read = { text: string } | { problem: string };

async function read(file: string): Promise<Read> {
  try {
    return { text: await readFile(file, "utf8") };
  } catch (error) {
    return { problem: `cannot read '${file}': ${readProblem(error)}` };
  }
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One certFiles entry: both files read, a valid pair that belongs together, one OpenSSL accepts as run's is. */
async function checkPair(
  object: LoadedObject,
  index: number,
  entry: Record<string, unknown>,
  out: TlsFileReports,
): Promise<void> {
  const { certFile, keyFile } = entry;
  if (typeof certFile !== "string" || typeof keyFile !== "string" || certFile === "" || keyFile === "") return;
  const at = (field: string): PropertyKey[] => ["certFiles", index, field];
  const add = (list: CrossReport[], field: string, message: string, value: string): void => {
    list.push({ object, report: { path: at(field), anchor: "value", message, value } });
  };
  const [cert, key] = await Promise.all([read(certFile), read(keyFile)]);
  if ("problem" in cert) add(out.errors, "certFile", cert.problem, certFile);
  if ("problem" in key) add(out.errors, "keyFile", key.problem, keyFile);
  if ("problem" in cert || "problem" in key) return;
  let pair;
  try {
    pair = parsePair(cert.text, key.text);
    createSecureContext({ cert: pair.certPem, key: pair.keyPem });
  } catch (error) {
    const message = reasonOf(error);
    const onKey = message.startsWith("key: ");
    const file = onKey ? keyFile : certFile;
    add(out.errors, onKey ? "keyFile" : "certFile", `'${file}': ${message.replace(/^(certificate|key): /, "")}`, file);
    return;
  }
  const expiry = new Date(pair.leaf.validTo);
  if (expiry.getTime() < Date.now()) {
    const message = `the certificate in '${certFile}' expired on ${expiry.toISOString()}; clients will refuse it`;
    add(out.warnings, "certFile", message, certFile);
  }
}

async function checkCaFile(object: LoadedObject, file: string, out: TlsFileReports): Promise<void> {
  const result = await read(file);
  const problem = "problem" in result ? result.problem : caBundleProblem(result.text);
  if (problem === undefined) return;
  const message = "problem" in result ? problem : `'${file}': ${problem}`;
  out.errors.push({ object, report: { path: ["caCertFile"], anchor: "value", message, value: file } });
}

/** Reads every certFiles pair and caCertFile of the HTTPServers that serve https. Relative paths start at the cwd. */
export async function tlsFileReports(objects: readonly LoadedObject[]): Promise<TlsFileReports> {
  const out: TlsFileReports = { errors: [], warnings: [] };
  const checks: Promise<void>[] = [];
  for (const object of objects) {
    // Without https the schema already refuses the TLS fields.
    if (object.kind !== "HTTPServer" || object.data["https"] !== true) continue;
    for (const [index, entry] of mapsIn(object.data, "certFiles")) {
      if (isRecord(entry)) checks.push(checkPair(object, index, entry, out));
    }
    const ca = object.data["caCertFile"];
    if (typeof ca === "string" && ca !== "") checks.push(checkCaFile(object, ca, out));
  }
  await Promise.all(checks);
  return out;
}
