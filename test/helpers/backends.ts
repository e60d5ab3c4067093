import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

export interface TestBackend {
  readonly port: number;
  readonly url: string;
  readonly wss: WebSocketServer;
  /** Requests of every upgrade the backend saw. */
  readonly upgrades: http.IncomingMessage[];
  /** Server-side sockets of live connections. */
  readonly connections: WebSocket[];
  close(): Promise<void>;
}

/**
 * A real `ws` backend on 127.0.0.1 with an ephemeral port. By default it echoes; `onConnection` replaces that.
 */
export function startBackend(
  options: {
    onConnection?: (socket: WebSocket, req: http.IncomingMessage) => void;
    wsOptions?: ConstructorParameters<typeof WebSocketServer>[0];
  } = {},
): Promise<TestBackend> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200);
    res.end("plain http\n");
  });
  const wss = new WebSocketServer({ server, ...options.wsOptions });
  const upgrades: http.IncomingMessage[] = [];
  const connections: WebSocket[] = [];
  wss.on("connection", (socket, req) => {
    upgrades.push(req);
    connections.push(socket);
    socket.on("error", () => socket.terminate());
    if (options.onConnection !== undefined) options.onConnection(socket, req);
    else socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        url: `ws://127.0.0.1:${port}`,
        wss,
        upgrades,
        connections,
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
