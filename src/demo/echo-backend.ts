import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";

export interface EchoBackend {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The demo's backend: echoes every WebSocket message and answers plain HTTP with its name, so that load
 * balancing can be seen from a client.
 */
export function startEchoBackend(name: string, port: number, host = "127.0.0.1"): Promise<EchoBackend> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
    res.end(`${name}: WebSocket echo backend\n`);
  });
  const wss = new WebSocketServer({ server, handleProtocols: (protocols) => protocols.values().next().value ?? false });
  wss.on("connection", (socket) => {
    socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
    socket.on("error", () => socket.terminate());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            for (const client of wss.clients) client.terminate();
            wss.close();
            server.close(() => done());
          }),
      });
    });
  });
}
