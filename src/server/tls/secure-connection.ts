// Node's HTTPS server serves each connection, once its TLS handshake is done, from its one listener of
// 'secureConnection' (the HTTP/1.1 parser's). Whoever takes connections before it (node:http2 by ALPN, the upgrade
// front) removes that listener and passes on what it does not take.
import type { Server as HttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";

/** Removes the HTTPS server's own 'secureConnection' listener and returns it, bound, for the caller to pass on to. */
export function takeSecureConnection(server: HttpsServer): (socket: TLSSocket) => void {
  const listeners = server.listeners("secureConnection") as Array<(socket: TLSSocket) => void>;
  const own = listeners[0];
  if (own === undefined || listeners.length !== 1) throw new Error("HTTPS server: expected only its own listener");
  server.removeListener("secureConnection", own);
  return (socket) => own.call(server, socket);
}
