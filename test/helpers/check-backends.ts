// A backend for health-check tests: a real HTTP server with a WebSocket server on it, on 127.0.0.1. Its plain-HTTP
// answer (the HTTP check's) and its answer to WebSocket checks can be changed while it runs; it can be stopped
// (killed: every connection cut) and started again on the same port. WebSocket clients get the backend's name back
// with every message, so a test knows where a connection landed.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { pino, type Logger } from "pino";
import WebSocketClient, { WebSocketServer, type WebSocket } from "ws";

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Delay before answering, ms. */
  delayMs: number;
}

export interface CheckRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface CheckBackend {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** The answer to every plain HTTP request. */
  http: HttpAnswer;
  /** Upgrades to `wsCheckPath` are refused with this status when set; else accepted with `wsCheckHeaders`. */
  wsCheckRefuse: number | undefined;
  wsCheckHeaders: Record<string, string>;
  readonly wsCheckPath: string;
  /** Plain HTTP requests seen (the HTTP checks). */
  readonly requests: CheckRequest[];
  /** Upgrades to the check path, and the close codes those connections ended with. */
  readonly wsChecks: number[];
  readonly wsCheckCloses: number[];
  /** Upgrades of real clients (any other path), in arrival order. */
  readonly clientUpgrades: http.IncomingMessage[];
  /** Open client connections (server side). */
  readonly clients: Set<WebSocket>;
  /** Most plain HTTP requests in flight at once. */
  maxConcurrentRequests: number;
  readonly running: boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startCheckBackend(
  name: string,
  options: { port?: number; wsCheckPath?: string } = {},
): Promise<CheckBackend> {
  let server: http.Server | undefined;
  let wss: WebSocketServer | undefined;
  let inFlight = 0;
  const sockets = new Set<Socket>();
  const backend: CheckBackend = {
    name,
    port: options.port ?? 0,
    url: "",
    http: { status: 200, headers: {}, body: "ok", delayMs: 0 },
    wsCheckRefuse: undefined,
    wsCheckHeaders: {},
    wsCheckPath: options.wsCheckPath ?? "/health/ws",
    requests: [],
    wsChecks: [],
    wsCheckCloses: [],
    clientUpgrades: [],
    clients: new Set(),
    maxConcurrentRequests: 0,
    get running() {
      return server !== undefined;
    },
    async start() {
      const httpServer = http.createServer((req, res) => {
        inFlight++;
        backend.maxConcurrentRequests = Math.max(backend.maxConcurrentRequests, inFlight);
        let body = "";
        req.on("data", (chunk: Buffer) => (body += chunk.toString()));
        req.on("end", () => {
          backend.requests.push({
            method: req.method ?? "",
            url: req.url ?? "",
            headers: req.headers,
            body,
            at: Date.now(),
          });
          const answer = backend.http;
          setTimeout(() => {
            inFlight--;
            if (res.destroyed) return;
            res.writeHead(answer.status, answer.headers);
            res.end(answer.body);
          }, answer.delayMs);
        });
      });
      httpServer.on("connection", (socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
      });
      const socketServer = new WebSocketServer({
        noServer: true,
      });
      socketServer.on("headers", (headers, req) => {
        if (req.url === backend.wsCheckPath) {
          for (const [key, value] of Object.entries(backend.wsCheckHeaders)) headers.push(`${key}: ${value}`);
        }
      });
      httpServer.on("upgrade", (req, socket, head) => {
        // An upgrade socket comes without an error listener: a peer's reset must not throw in the test process.
        socket.on("error", () => socket.destroy());
        if (req.url === backend.wsCheckPath) {
          backend.wsChecks.push(Date.now());
          const refuse = backend.wsCheckRefuse;
          if (refuse !== undefined) {
            socket.end(`HTTP/1.1 ${refuse} No\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
            return;
          }
          socketServer.handleUpgrade(req, socket, head, (ws) => {
            ws.on("error", () => ws.terminate());
            ws.on("close", (code) => backend.wsCheckCloses.push(code));
          });
          return;
        }
        socketServer.handleUpgrade(req, socket, head, (ws) => {
          backend.clientUpgrades.push(req);
          backend.clients.add(ws);
          ws.on("error", () => ws.terminate());
          ws.on("close", () => backend.clients.delete(ws));
          ws.on("message", (data) => ws.send(`${name}:${String(data)}`));
        });
      });
      await new Promise<void>((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(backend.port, "127.0.0.1", () => resolve());
      });
      server = httpServer;
      wss = socketServer;
      const port = (httpServer.address() as AddressInfo).port;
      Object.assign(backend, { port, url: `ws://127.0.0.1:${port}` });
    },
    /** Kills the backend: the listener closes and every connection is cut, as when a process dies. */
    async stop() {
      const httpServer = server;
      if (httpServer === undefined) return;
      server = undefined;
      for (const client of wss?.clients ?? []) client.terminate();
      wss?.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
  await backend.start();
  return backend;
}

/** A real pino logger whose JSON lines are collected, for asserting on log lines without a process. */
export function collectingLogger(onLine?: (line: Record<string, unknown>) => void): {
  log: Logger;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  // pino writes to a plain object's write() synchronously, so onLine sees the state the line was written in.
  const write = (text: string): void => {
    const line = JSON.parse(text) as Record<string, unknown>;
    lines.push(line);
    onLine?.(line);
  };
  const log = pino({ level: "debug" }, { write });
  return { log, lines };
}

export interface Landing {
  /** The name of the check backend that answered. */
  backend: string;
  /** Headers of the gateway's 101. */
  headers: http.IncomingHttpHeaders;
}

/** Opens a WebSocket through the gateway, asks which backend took it, closes it. Rejects on any non-101. */
export function landing(url: string, headers: Record<string, string> = {}, ms = 3000): Promise<Landing> {
  return new Promise<Landing>((resolve, reject) => {
    const ws = new WebSocketClient(url, { headers });
    let upgradeHeaders: http.IncomingHttpHeaders = {};
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`timed out after ${ms} ms on ${url}`));
    }, ms);
    ws.on("upgrade", (response) => (upgradeHeaders = response.headers));
    ws.on("unexpected-response", (_request, response) => {
      clearTimeout(timer);
      ws.terminate();
      reject(new Error(`unexpected ${response.statusCode ?? 0} on ${url}`));
    });
    ws.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    ws.on("open", () => ws.send("who"));
    ws.on("message", (data) => {
      clearTimeout(timer);
      ws.close(1000);
      resolve({ backend: String(data).split(":")[0] ?? "", headers: upgradeHeaders });
    });
  });
}
