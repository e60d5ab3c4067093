// Calls to a gateway's admin API, and runs of the wsgate CLI to its end, for the admin tests.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { withTimeout } from "./net.js";

const CLI = fileURLToPath(new URL("../../src/cli.js", import.meta.url));

export interface AdminReply {
  status: number;
  headers: Headers;
  text: string;
  /** The body as JSON (throws when it is not). */
  json<T = Record<string, unknown>>(): T;
}

export interface AdminCall {
  body?: string;
  headers?: Record<string, string>;
  token?: string;
}

/** One admin request to 127.0.0.1:`port`, bounded in time. */
export async function admin(port: number, method: string, path: string, call: AdminCall = {}): Promise<AdminReply> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      ...(call.token === undefined ? {} : { Authorization: `Bearer ${call.token}` }),
      // The admin API takes bodies declared YAML or JSON only (415 otherwise), as `wsgate apply` sends them.
      ...(call.body === undefined ? {} : { "Content-Type": "application/yaml" }),
      ...call.headers,
    },
    ...(call.body === undefined ? {} : { body: call.body }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: <T>() => JSON.parse(text) as T };
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end (killed after `ms`). */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; ms?: number } = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: options.env ?? { ...process.env, WSGATE_ADMIN_TOKEN: "" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<CliRun>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  return withTimeout(exited, options.ms ?? 10_000, `wsgate ${args.join(" ")} to exit`).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
}

/**
 * A gateway config with one server on `port` routing /ws to pipeline `echo`, whose pool is `backendPort` (several: one
 * pool of them, round robin).
 */
export function echoConfig(port: number, backendPort: number | readonly number[]): string {
  const ports = typeof backendPort === "number" ? [backendPort] : backendPort;
  return `kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - path: /ws
        backend: echo
---
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
${ports.map((backend) => `          - url: ws://127.0.0.1:${backend}`).join("\n")}
`;
}
