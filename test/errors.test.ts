// Walks the three error tables of src/errors.ts: every code one row of one table, every error class's code and fields
// its row's, every `WSG_` literal in src/ a row's code, every status, close code and exit code one that can be sent.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import {
  API_ERRORS,
  ApiError,
  GatewayError,
  STARTUP_ERRORS,
  StartupError,
  TRAFFIC_ERRORS,
  trafficRow,
  UpstreamConnectError,
  exitCodeOf,
  type TrafficRow,
} from "../src/errors.js";
import { ConfigLoadError } from "../src/config/errors.js";
import { UsageError } from "../src/cli/parse.js";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

const SOURCES = sourceFiles(SRC).map((path) => ({ path: path.slice(SRC.length), text: readFileSync(path, "utf8") }));

const TABLES: Record<string, Readonly<Record<string, unknown>>> = {
  TRAFFIC_ERRORS,
  API_ERRORS,
  STARTUP_ERRORS,
};

function tablesOf(code: string): string[] {
  return Object.entries(TABLES)
    .filter(([, table]) => Object.hasOwn(table, code))
    .map(([name]) => name);
}

/** Every module that exports an error class (pipeline.ts keeps its two private: the source walk covers them). */
const MODULES = [
  "../src/errors.js",
  "../src/admin/errors.js",
  "../src/admin/pipeline-users.js",
  "../src/control/errors.js",
  "../src/control/seed.js",
  "../src/config/errors.js",
  "../src/cluster/errors.js",
  "../src/filters/proxy/errors.js",
  "../src/filters/refusals.js",
  "../src/server/listener-error.js",
  "../src/gateway.js",
  "../src/cli/parse.js",
  "../src/cli/serve.js",
  "../src/cli/store-choice.js",
];

type ErrorClass = new (...args: unknown[]) => Error;

/** Arguments for the classes a string or an empty list cannot build. */
const ARGUMENTS: Readonly<Record<string, unknown[]>> = {
  RequestTargetError: ["WSG_TARGET_MALFORMED", "x"],
  HandshakeRefusedError: [403, "WSG_IP_BLOCKED", "x"],
};

function build(name: string, Class: ErrorClass): Error {
  const given = ARGUMENTS[name];
  if (given !== undefined) return new Class(...given);
  try {
    return new Class(...Array.from({ length: Class.length }, () => "x"));
  } catch {
    return new Class(...Array.from({ length: Class.length }, () => []));
  }
}

/** Each concrete error class of the three roots, built once. */
async function errorInstances(): Promise<Array<{ name: string; error: Error }>> {
  const found = new Map<string, Error>();
  for (const path of MODULES) {
    const module = (await import(path)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(module)) {
      if (typeof value !== "function" || found.has(name)) continue;
      const prototype = (value as { prototype?: unknown }).prototype;
      const rooted = [GatewayError, ApiError, StartupError].some((root) => prototype instanceof root);
      if (!rooted) continue;
      let error: Error;
      try {
        error = build(name, value as ErrorClass);
      } catch {
        continue; // abstract bases (ObjectStoreError) cannot be built
      }
      found.set(name, error);
    }
  }
  return [...found].map(([name, error]) => ({ name, error }));
}

const WIRE_CLOSE_CODES = (code: number): boolean =>
  (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);

describe("error tables (src/errors.ts)", () => {
  it("gives every code one row in one table, in the WSG_ form", () => {
    const codes = Object.values(TABLES).flatMap((table) => Object.keys(table));
    for (const code of codes) {
      assert.match(code, /^WSG_[A-Z0-9_]+$/);
      assert.deepEqual(tablesOf(code).length, 1, `${code} is in ${tablesOf(code).join(" and ")}`);
    }
  });

  it("has only statuses, close codes and exit codes that can be sent", () => {
    for (const [code, row] of Object.entries(TRAFFIC_ERRORS) as Array<[string, TrafficRow]>) {
      if (row.status !== undefined) assert.ok(row.status >= 400 && row.status <= 599, `${code}: ${row.status}`);
      if (row.closeCode !== undefined) assert.ok(WIRE_CLOSE_CODES(row.closeCode), `${code}: ${row.closeCode}`);
      // A frame failure is answered with a close code, anything else before the 101 with a status.
      if (code.startsWith("WSG_FRAME_")) {
        assert.equal(row.status, undefined, code);
        assert.notEqual(row.closeCode, undefined, code);
        assert.equal(row.side, "peer", code);
        assert.equal(typeof row.publicReason, "string", `${code}: a close frame's reason`);
        assert.ok(Buffer.byteLength(row.publicReason ?? "") <= 123, `${code}: close reason over 123 bytes`);
      } else {
        assert.equal(row.closeCode, undefined, code);
        assert.notEqual(row.side, "peer", code);
        if (code !== "WSG_BACKEND_REFUSED") assert.notEqual(row.status, undefined, code);
      }
      if (row.retryable) assert.equal(row.side, "upstream", `${code}: only a backend's failure is retried`);
      if (row.side === "gateway" || row.side === "upstream") {
        assert.ok(row.publicReason === null || !/\d+\.\d+\.\d+|:\d{2,5}\b/.test(row.publicReason), code);
      }
    }
    for (const [code, row] of Object.entries(API_ERRORS)) {
      assert.ok(row.status >= 400 && row.status <= 599, `${code}: ${row.status}`);
    }
    for (const [code, row] of Object.entries(STARTUP_ERRORS)) {
      assert.ok(Number.isInteger(row.exitCode) && row.exitCode >= 1 && row.exitCode <= 125, `${code}: ${row.exitCode}`);
    }
  });

  it("gives every traffic failure its own short log reason", () => {
    const seen = new Map<string, string>();
    for (const [code, row] of Object.entries(TRAFFIC_ERRORS) as Array<[string, TrafficRow]>) {
      assert.match(row.logReason, /^[a-z0-9_]+$/, code);
      assert.equal(seen.get(row.logReason), undefined, `${code} and ${seen.get(row.logReason)}: ${row.logReason}`);
      seen.set(row.logReason, code);
    }
  });

  it("reads every WSG_ literal in src/ as a table's code", () => {
    const unknown: string[] = [];
    for (const { path, text } of SOURCES) {
      for (const [literal] of text.matchAll(/WSG_[A-Z0-9_]*[A-Z0-9](?![\w$])/g)) {
        if (tablesOf(literal).length === 0) unknown.push(`${path}: ${literal}`);
      }
    }
    assert.deepEqual(unknown, []);
  });

  it("refuses a handshake with its code's status wherever a filter builds the refusal", () => {
    const refusals: string[] = [];
    const refusal = /new HandshakeRefusedError\(\s*(\d+),\s*"(WSG_\w+)"|tooManyRequests\(\s*"(WSG_\w+)"/g;
    for (const { path, text } of SOURCES) {
      for (const match of text.matchAll(refusal)) {
        const status = match[1] === undefined ? 429 : Number(match[1]);
        const code = match[2] ?? match[3] ?? "";
        refusals.push(code);
        assert.equal(status, trafficRow(code)?.status, `${path}: ${code}`);
      }
    }
    // The WebSocketProxy's origin and connection-limit refusals are classes of their own now (checked with every class).
    assert.ok(refusals.length >= 5, `only ${refusals.length} refusals found: the pattern no longer reads them`);
  });

  it("declares each code for one class only", () => {
    const declared = new Map<string, string[]>();
    const declaration =
      /class (\w+) extends (?:trafficError|apiError|objectStoreError|startupError)\("(WSG_\w+)"\)|class (\w+) extends[^{]*\{[^}]*?readonly code = "(WSG_\w+)"/g;
    for (const { path, text } of SOURCES) {
      for (const match of text.matchAll(declaration)) {
        const name = match[1] ?? match[3] ?? "";
        const code = match[2] ?? match[4] ?? "";
        declared.set(code, [...(declared.get(code) ?? []), `${path} ${name}`]);
      }
    }
    assert.ok(declared.size > 60, `only ${declared.size} declarations found: the pattern no longer reads the classes`);
    for (const [code, classes] of declared) assert.equal(classes.length, 1, `${code}: ${classes.join(", ")}`);
  });

  it("builds every error class with its row's code, status, side, retryable and exit code", async () => {
    const instances = await errorInstances();
    assert.ok(instances.length > 60, `only ${instances.length} error classes found`);
    const owners = new Map<string, string>();
    for (const { name, error } of instances) {
      const { code } = error as Error & { code: string | undefined };
      if (code === undefined) continue; // an abstract base (ObjectStoreError): no row of its own
      if (name !== "HandshakeRefusedError" && name !== "RequestTargetError") {
        assert.equal(owners.get(code), undefined, `${code}: ${owners.get(code)} and ${name}`);
        owners.set(code, name);
      }
      if (error instanceof GatewayError) {
        const row = trafficRow(code);
        assert.notEqual(row, undefined, `${name}: ${code} is not in TRAFFIC_ERRORS`);
        assert.equal(error.status, row?.status, `${name} status`);
        assert.equal(error.side, row?.side, `${name} side`);
        assert.equal(error.retryable, row?.retryable, `${name} retryable`);
        assert.equal(error.logReason, row?.logReason, `${name} logReason`);
        assert.equal(error.publicReason, row?.publicReason ?? error.message, `${name} publicReason`);
      } else if (error instanceof ApiError) {
        assert.ok(Object.hasOwn(API_ERRORS, code), `${name}: ${code} is not in API_ERRORS`);
        assert.equal(error.status, API_ERRORS[code as keyof typeof API_ERRORS].status, `${name} status`);
      } else if (error instanceof StartupError) {
        assert.ok(Object.hasOwn(STARTUP_ERRORS, code), `${name}: ${code} is not in STARTUP_ERRORS`);
        assert.equal(error.exitCode, STARTUP_ERRORS[code as keyof typeof STARTUP_ERRORS].exitCode, `${name} exit`);
      }
    }
  });

  it("labels a refused connection by its errno, and any other connect failure connect_failed", () => {
    assert.equal(new UpstreamConnectError("b:1", "ECONNREFUSED").logReason, "connection_refused");
    assert.equal(new UpstreamConnectError("b:1", "connection refused").logReason, "connection_refused");
    assert.equal(new UpstreamConnectError("b:1", "EWHATEVER").logReason, "connect_failed");
  });

  it("ends a failed start with its row's exit code and its own lines", () => {
    const placed = { file: "a.yaml", line: 3, column: 1, path: "kind", message: "unknown kind" };
    const one = new ConfigLoadError([placed]);
    assert.equal(exitCodeOf(one), 1);
    assert.equal(one.report(), "a.yaml:3 kind: unknown kind\n");
    const two = new ConfigLoadError([placed, { ...placed, line: 4 }]);
    assert.equal(
      two.report(),
      "a.yaml:3 kind: unknown kind\na.yaml:4 kind: unknown kind\nwsgate: 2 configuration errors\n",
    );
    assert.equal(exitCodeOf(new UsageError("--config is required")), 2);
    assert.equal(new UsageError("--config is required").report(), "wsgate: --config is required\n");
    assert.equal(exitCodeOf(new Error("a bug")), 1);
  });
});
