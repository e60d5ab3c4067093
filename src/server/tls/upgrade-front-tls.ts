// The upgrade front on a TLS listener: Node's HTTPS server hands each connection, once its handshake is done, to its
// HTTP/1.1 listener of 'secureConnection'; the front takes that listener's place, serves a simple WebSocket upgrade
// itself (no HTTP parser, connection tracking or 'upgrade' dispatch per handshake) and gives every other connection
// back to it, its first bytes put back.
import type { Server as HttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import { UpgradeFront, type UpgradeFrontOptions } from "../upgrade-front.js";
import { takeSecureConnection } from "./secure-connection.js";

export function upgradeFrontOnTls(
  server: HttpsServer,
  options: Omit<UpgradeFrontOptions, "server" | "handOver">,
): UpgradeFront {
  const http1 = takeSecureConnection(server);
  // A 'connection' would be wrapped in TLS a second time: Node's HTTP/1.1 listener takes the TLS socket itself.
  const front = new UpgradeFront({ ...options, server, handOver: (socket) => http1(socket as TLSSocket) });
  server.on("secureConnection", (socket: TLSSocket) => {
    // A socket a check before this one destroyed (a client certificate that did not verify) is not waited on.
    if (!socket.destroyed) front.accept(socket);
  });
  return front;
}
