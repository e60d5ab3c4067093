// The certificate files a configuration names, read and checked as `wsgate run` reads them when it starts (TLS
// termination: src/server/tls/termination.ts; TLS to backends: src/upstream/tls-options.ts), so that `validate` finds
// what would stop `run`, at the field that names the file. No listener is opened, no backend is dialled.
import { readFile } from "node:fs/promises";
import { createSecureContext } from "node:tls";
import { caBundleProblem, parsePair } from "../util/pem.js";
import type { CrossReport } from "./loaded-object.js";
import type { LoadedObject } from "./loaded-object.js";
import { isRecord, mapsIn } from "../schema/plain-data.js";
import { readProblem } from "./sources.js";

export interface TlsFileReports {
  errors: CrossReport[];
  warnings: CrossReport[];
}

/** Where a group of TLS fields sits in an object, and what its certificate and key fields are called there. */
interface TlsFields {
  object: LoadedObject;
  /** The map holding the fields, e.g. [] for an HTTPServer, ["filters", 0, "pools", 0, "tls"] for a backend pool. */
  at: PropertyKey[];
  values: Record<string, unknown>;
}

type Read = { text: string } | { problem: string };

async function read(file: string): Promise<Read> {
  try {
    return { text: await readFile(file, "utf8") };
  } catch (error) {
    return { problem: `cannot read '${file}': ${readProblem(error)}` };
  }
}

function fileField(values: Record<string, unknown>, field: string): string | undefined {
  const value = values[field];
  return typeof value === "string" && value !== "" ? value : undefined;
}

class Collector implements TlsFileReports {
  readonly errors: CrossReport[] = [];
  readonly warnings: CrossReport[] = [];

  add(list: "errors" | "warnings", where: TlsFields, field: string, message: string, value: string): void {
    const report = { path: [...where.at, field], anchor: "value" as const, message, value };
    this[list].push({ object: where.object, report });
  }

  /** A certificate and its key: both read, a valid pair that belongs together, one OpenSSL accepts as run's is. */
  async pair(where: TlsFields, certField: string, keyField: string): Promise<void> {
    const certFile = fileField(where.values, certField);
    const keyFile = fileField(where.values, keyField);
    if (certFile === undefined || keyFile === undefined) return;
    const [cert, key] = await Promise.all([read(certFile), read(keyFile)]);
    if ("problem" in cert) this.add("errors", where, certField, cert.problem, certFile);
    if ("problem" in key) this.add("errors", where, keyField, key.problem, keyFile);
    if ("problem" in cert || "problem" in key) return;
    let pair;
    try {
      pair = parsePair(cert.text, key.text);
      createSecureContext({ cert: pair.certPem, key: pair.keyPem });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const onKey = message.startsWith("key: ");
      const file = onKey ? keyFile : certFile;
      const reason = message.replace(/^(certificate|key): /, "");
      this.add("errors", where, onKey ? keyField : certField, `'${file}': ${reason}`, file);
      return;
    }
    const expiry = new Date(pair.leaf.validTo);
    if (expiry.getTime() < Date.now()) {
      const message = `the certificate in '${certFile}' expired on ${expiry.toISOString()}; peers will refuse it`;
      this.add("warnings", where, certField, message, certFile);
    }
  }

  /** A file of CA certificates: read, and at least one certificate in it. */
  async caFile(where: TlsFields, field: string): Promise<void> {
    const file = fileField(where.values, field);
    if (file === undefined) return;
    const result = await read(file);
    const problem = "problem" in result ? result.problem : caBundleProblem(result.text);
    if (problem === undefined) return;
    this.add("errors", where, field, "problem" in result ? problem : `'${file}': ${problem}`, file);
  }
}

/** The `tls` maps of a pipeline's backend pools and their servers (WebSocketProxy and Proxy). */
function backendTlsFields(object: LoadedObject): TlsFields[] {
  const found: TlsFields[] = [];
  for (const [filterIndex, filter] of mapsIn(object.data, "filters")) {
    for (const [poolIndex, pool] of mapsIn(filter, "pools")) {
      const at = ["filters", filterIndex, "pools", poolIndex];
      if (isRecord(pool["tls"])) found.push({ object, at: [...at, "tls"], values: pool["tls"] });
      for (const [serverIndex, server] of mapsIn(pool, "servers")) {
        const tls = server["tls"];
        if (isRecord(tls)) found.push({ object, at: [...at, "servers", serverIndex, "tls"], values: tls });
      }
    }
  }
  return found;
}

/**
 * Reads every certificate, key and CA file the objects name: an https HTTPServer's certFiles and caCertFile, a backend
 * pool's or server's tls caFile, certFile and keyFile. Relative paths start at the working directory, as for `run`.
 */
export async function tlsFileReports(objects: readonly LoadedObject[]): Promise<TlsFileReports> {
  const out = new Collector();
  const checks: Promise<void>[] = [];
  for (const object of objects) {
    if (object.kind === "HTTPServer") {
      // Without https the schema already refuses the TLS fields.
      if (object.data["https"] !== true) continue;
      for (const [index, entry] of mapsIn(object.data, "certFiles")) {
        checks.push(out.pair({ object, at: ["certFiles", index], values: entry }, "certFile", "keyFile"));
      }
      checks.push(out.caFile({ object, at: [], values: object.data }, "caCertFile"));
    } else if (object.kind === "Pipeline") {
      for (const fields of backendTlsFields(object)) {
        checks.push(out.pair(fields, "certFile", "keyFile"), out.caFile(fields, "caFile"));
      }
    }
  }
  await Promise.all(checks);
  return { errors: out.errors, warnings: out.warnings };
}
