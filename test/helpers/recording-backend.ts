import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { WebSocketServer } from "ws";

/** One request exactly as the backend's HTTP parser understood it. */
export interface RecordedRequest {
  /** Which TCP connection it came on (1, 2, ...), to tell pipelined requests from separate ones. */
  connection: number;
  method: string;
  url: string;
  /** Name/value pairs in arrival order, names as sent. */
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** It came as an upgrade (Node's `upgrade` event); the backend completed the WebSocket handshake. */
  upgrade: boolean;
}

export interface RecordingBackend {
  readonly port: number;
  readonly url: string;
  /** Every request parsed so far, in the order their heads (and, for plain requests, bodies) completed. */
  readonly requests: RecordedRequest[];
  /** Resolves once `count` requests are recorded, or after `ms` with what there is. */
  waitFor(count: number, ms?: number): Promise<RecordedRequest[]>;
  close(): Promise<void>;
}

export interface RecordingOptions {
  /** The answer to a plain request; by default 200 with `method url` as the body. */
  respond?: (request: RecordedRequest, res: http.ServerResponse) => void;
}

/**
 * A backend that records what reached it, as an origin server behind the gateway would parse it: Node's strict
 * HTTP/1.1 parser, keep-alive and pipelining on, upgrades completed as WebSockets that echo. Differential tests compare
 * what the gateway accepted with what arrived here.
 */
export function startRecordingBackend(options: RecordingOptions = {}): Promise<RecordingBackend> {
  const requests: RecordedRequest[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const connectionIds = new WeakMap<Socket, number>();
  let connections = 0;
  const record = (request: RecordedRequest): void => {
    requests.push(request);
    for (const waiter of waiters.splice(0)) {
      if (requests.length >= waiter.count) waiter.resolve();
      else waiters.push(waiter);
    }
  };
  const connectionOf = (socket: Socket): number => connectionIds.get(socket) ?? 0;
  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request: RecordedRequest = {
        connection: connectionOf(req.socket),
        method: req.method ?? "",
        url: req.url ?? "",
        rawHeaders: req.rawHeaders,
        headers: req.headers,
        body: Buffer.concat(chunks),
        upgrade: false,
      };
      record(request);
      if (options.respond !== undefined) options.respond(request, res);
      else res.end(`${request.method} ${request.url}`);
    });
  });
  server.on("connection", (socket: Socket) => connectionIds.set(socket, ++connections));
  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    record({
      connection: connectionOf(socket),
      method: req.method ?? "",
      url: req.url ?? "",
      rawHeaders: req.rawHeaders,
      headers: req.headers,
      body: Buffer.alloc(0),
      upgrade: true,
    });
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("error", () => ws.terminate());
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        requests,
        waitFor(count, ms = 2000) {
          if (requests.length >= count) return Promise.resolve(requests);
          return new Promise((done) => {
            const timer = setTimeout(() => done(requests), ms);
            waiters.push({
              count,
              resolve: () => {
                clearTimeout(timer);
                done(requests);
              },
            });
          });
        },
        close: () =>
          new Promise<void>((done) => {
            for (const client of wss.clients) client.terminate();
            wss.close();
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
