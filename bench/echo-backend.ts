/**
 * The bench's backend: a `ws` echo server in a process of its own, so that its CPU is not counted as the
 * proxy's. Usage: `node dist/bench/echo-backend.js [PORT]` (0 or nothing: an ephemeral port). Listens on
 * 127.0.0.1 and prints `PORT <n>` on stdout once it accepts connections.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type RawData, type WebSocket } from "ws";

const port = Number(process.argv[2] ?? "0");
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`echo-backend: invalid port '${process.argv[2] ?? ""}'\n`);
  process.exit(2);
}

const server = http.createServer((_req, res) => {
  res.writeHead(426, { "Content-Type": "text/plain" });
  res.end("WebSocket echo backend\n");
});
server.maxConnections = Infinity;

const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: true, maxPayload: 64 << 20 });
const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;

wss.on("connection", (socket: WebSocket) => {
  socket.on("message", (data: RawData, isBinary: boolean) => socket.send(data, isBinary ? BINARY : TEXT));
  socket.on("error", () => socket.terminate());
});

function stop(): void {
  for (const client of wss.clients) client.terminate();
  wss.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}

process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// Started by the bench with an IPC channel: leave with it, so that no backend outlives its orchestrator.
if (process.connected) process.on("disconnect", stop);

server.listen({ port, host: "127.0.0.1", backlog: 4096 }, () => {
  process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`);
});
