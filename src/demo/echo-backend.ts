import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { isPortRefused } from "./ports.js";

export interface EchoBackend {
  readonly port: number;
  close(): Promise<void>;
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * The demo's backend: echoes every WebSocket message and answers plain HTTP with its name, so that load
 * balancing can be seen from a client. Listens on `port`, or on a free port when `port` is taken.
 */
export async function startEchoBackend(name: string, port: number, host = "127.0.0.1"): Promise<EchoBackend> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
    res.end(`${name}: WebSocket echo backend\n`);
  });
  let bound: number;
  try {
    bound = await listen(server, port, host);
  } catch (error) {
    if (!isPortRefused(error) || port === 0) throw error;
    bound = await listen(server, 0, host);
  }
  // Attached once listening: a WebSocketServer re-emits its server's errors, and a listen error re-emitted to a
  // WebSocketServer without a listener is Node's raw "Unhandled 'error' event".
  const wss = new WebSocketServer({ server, handleProtocols: (protocols) => protocols.values().next().value ?? false });
  wss.on("error", () => {});
  wss.on("connection", (socket) => {
    socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
    socket.on("error", () => socket.terminate());
  });
  return {
    port: bound,
    close: () =>
      new Promise<void>((done) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close(() => done());
      }),
  };
}
