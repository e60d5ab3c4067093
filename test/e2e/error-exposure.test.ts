// End to end: what a client reads when a backend fails. By default the body is a generic reason that names no backend
// address, pool, pipeline or filter; an HTTPServer with `exposeErrors: true` tells the whole message. The logs keep
// the details either way. Backends: refusing, silent (timeouts), not speaking TLS, all unhealthy; plus a Validator.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf } from "../helpers/net.js";

const SECRET = Buffer.from("wsgate-error-exposure-test-secret-long").toString("hex");

interface Silent {
  port: number;
  close(): void;
}

/** Accepts connections and never writes a byte: timeouts, and a wss:// / https:// URL that gets no TLS answer. */
async function silentBackend(): Promise<Silent> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

/** Answers every connection with plain text: a TLS client reads garbage and fails its handshake at once. */
async function plainTextBackend(): Promise<Silent> {
  const server = net.createServer((socket) => {
    socket.on("error", () => undefined);
    socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

function wsPipeline(name: string, url: string, extra = ""): string {
  return `kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: ${name}-filter
    dialTimeout: 1s
    handshakeTimeout: 300ms
    pools:
      - servers:
          - url: ${url}${extra}
`;
}

function httpPipeline(name: string, url: string): string {
  return `kind: Pipeline
name: ${name}
filters:
  - kind: Proxy
    name: ${name}-filter
    responseTimeout: 300ms
    pools:
      - servers:
          - url: ${url}
`;
}

const ROUTES = ["ws-refused", "ws-silent", "ws-tls", "ws-down", "ws-auth", "http-refused", "http-silent", "http-tls"];

function server(name: string, port: number, expose: boolean): string {
  const paths = ROUTES.map((route) => `      - path: /${route}\n        backend: ${route}`).join("\n");
  return `kind: HTTPServer
name: ${name}
port: ${port}
address: 127.0.0.1
exposeErrors: ${expose}
rules:
  - paths:
${paths}
`;
}

interface Case {
  route: string;
  status: number;
  /** The whole body a client gets by default. */
  generic: string;
  /** What the exposed body says (it names the backend or the filter). */
  exposed: (ports: Ports) => RegExp;
}

interface Ports {
  dead: number;
  silent: number;
  plain: number;
}

const CASES: Case[] = [
  {
    route: "ws-refused",
    status: 502,
    generic: "backend unreachable",
    exposed: (p) => new RegExp(`127\\.0\\.0\\.1:${p.dead}`),
  },
  {
    route: "ws-silent",
    status: 504,
    generic: "backend did not answer the upgrade in time",
    exposed: (p) => new RegExp(`127\\.0\\.0\\.1:${p.silent}`),
  },
  {
    route: "ws-tls",
    status: 502,
    generic: "TLS handshake with the backend failed",
    exposed: (p) => new RegExp(`backend 127\\.0\\.0\\.1:${p.plain}`),
  },
  { route: "ws-down", status: 503, generic: "no backend available", exposed: () => /pool ws-down\/ws-down-filter/ },
  { route: "ws-auth", status: 401, generic: "jwt: no token", exposed: () => /validator ws-auth-filter/ },
  {
    route: "http-refused",
    status: 502,
    generic: "backend unreachable",
    exposed: (p) => new RegExp(`127\\.0\\.0\\.1:${p.dead}`),
  },
  {
    route: "http-silent",
    status: 504,
    generic: "backend did not answer in time",
    exposed: (p) => new RegExp(`127\\.0\\.0\\.1:${p.silent}`),
  },
  {
    route: "http-tls",
    status: 502,
    generic: "TLS handshake with the backend failed",
    exposed: (p) => new RegExp(`backend 127\\.0\\.0\\.1:${p.plain}`),
  },
];

function requestFor(route: string, port: number): string {
  const head = `GET /${route} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`;
  if (route.startsWith("http-")) return `${head}Connection: close\r\n\r\n`;
  return (
    `${head}Upgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
  );
}

function bodyOf(answer: Buffer): string {
  const text = answer.toString("latin1");
  return text.slice(text.indexOf("\r\n\r\n") + 4);
}

describe("error bodies: generic by default, whole with exposeErrors", () => {
  let gateway: GatewayProcess;
  let silent: Silent;
  let plain: Silent;
  let ports: Ports;
  let quietPort: number;
  let exposedPort: number;

  before(async () => {
    silent = await silentBackend();
    plain = await plainTextBackend();
    ports = { dead: await freePort(), silent: silent.port, plain: plain.port };
    quietPort = await freePort();
    exposedPort = await freePort();
    const down = `
        healthCheck:
          interval: 100ms
          timeout: 200ms
          http:
            uri: /health`;
    const auth = `kind: Pipeline
name: ws-auth
filters:
  - kind: Validator
    name: ws-auth-filter
    jwt:
      algorithm: HS256
      secret: ${SECRET}
  - kind: WebSocketProxy
    name: ws-auth-proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${ports.dead}
`;
    const objects = [
      server("quiet", quietPort, false),
      server("exposed", exposedPort, true),
      wsPipeline("ws-refused", `ws://127.0.0.1:${ports.dead}`),
      wsPipeline("ws-silent", `ws://127.0.0.1:${ports.silent}`),
      wsPipeline("ws-tls", `wss://127.0.0.1:${ports.plain}`),
      wsPipeline("ws-down", `ws://127.0.0.1:${ports.dead}`, down),
      auth,
      httpPipeline("http-refused", `http://127.0.0.1:${ports.dead}`),
      httpPipeline("http-silent", `http://127.0.0.1:${ports.silent}`),
      httpPipeline("http-tls", `https://127.0.0.1:${ports.plain}`),
    ];
    gateway = await GatewayProcess.start(objects.join("---\n"), { servers: 2 });
    // The checked pool has had its first (failing) round.
    await gateway.nextLog((line) => JSON.stringify(line).includes("unhealthy"), 5000);
  });

  after(async () => {
    await gateway?.stop();
    silent?.close();
    plain?.close();
  });

  for (const { route, status, generic, exposed } of CASES) {
    it(`${route}: ${status} "${generic}" by default, the details with exposeErrors`, async () => {
      const quiet = await rawExchange(quietPort, requestFor(route, quietPort), 3000);
      assert.equal(statusOf(quiet.received), status, quiet.received.toString("latin1"));
      const body = bodyOf(quiet.received);
      assert.equal(body, `${generic}\n`);
      assert.doesNotMatch(body, /127\.0\.0\.1|pool|filter|ws-|http-|validator/);

      const loud = await rawExchange(exposedPort, requestFor(route, exposedPort), 3000);
      assert.equal(statusOf(loud.received), status);
      assert.match(bodyOf(loud.received), exposed(ports));

      // The log line of the generic answer keeps the whole reason.
      const line = await gateway.nextLog(
        (entry) => entry.event === "request_rejected" && entry.server === "quiet" && entry.path === `/${route}`,
      );
      assert.match(String(line.reason), exposed(ports));
    });
  }
});
