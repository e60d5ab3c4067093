/**
 * node http-proxy as a WebSocket reverse proxy, for `npm run bench`: the common way to proxy WebSockets from
 * Node, and a tunnel (it relays bytes after the handshake). Usage: `node dist/bench/targets/http-proxy.js PORT
 * BACKEND_PORT`; listens on 127.0.0.1:PORT and forwards everything to ws://127.0.0.1:BACKEND_PORT.
 */
import http from "node:http";
import type { Socket } from "node:net";
import httpProxy from "http-proxy";

const port = Number(process.argv[2]);
const backendPort = Number(process.argv[3]);
if (!Number.isInteger(port) || !Number.isInteger(backendPort)) {
  process.stderr.write("usage: http-proxy.js PORT BACKEND_PORT\n");
  process.exit(2);
}

const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${backendPort}`, ws: true, xfwd: false });

// Without a listener http-proxy throws on a failed backend connection. A reset while a connection closes is the
// client's doing, not the proxy's: only other errors are reported (the bench counts lines on stderr as anomalies).
proxy.on("error", (error: NodeJS.ErrnoException, _req, target) => {
  if (error.code !== "ECONNRESET" && error.code !== "EPIPE") process.stderr.write(`http-proxy: ${error.message}\n`);
  if (target instanceof http.ServerResponse) {
    if (!target.headersSent) target.writeHead(502);
    target.end();
  } else {
    (target as Socket).destroy();
  }
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.on("upgrade", (req, socket, head) => proxy.ws(req, socket, head));
server.maxConnections = Infinity;

// SIGTERM (how the bench stops it) ends the process: there is nothing to drain.
server.listen({ port, host: "127.0.0.1", backlog: 4096 });
