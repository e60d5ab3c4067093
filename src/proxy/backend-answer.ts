import type { IncomingMessage } from "node:http";
import type { ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import { closeStream, writeStreamRefusal } from "../util/http/stream-response.js";
import {
  extendedConnectFields,
  relayedResponseFields,
  relayedResponseHeaders,
  switchingProtocolsHead,
} from "../websocket/handshake.js";
import type { UpgradeResponse } from "../websocket/upgrade-response.js";

/**
 * Relays a backend's non-101 answer (status, headers, body) to the client as it came, on a connection that
 * closes after the body: the client learns exactly why the backend said no.
 */
export function relayBackendAnswer(response: IncomingMessage, client: Socket): void {
  let head = `HTTP/1.1 ${response.statusCode ?? 502} ${response.statusMessage ?? ""}\r\n`;
  for (const [name, value] of relayedResponseHeaders(response.rawHeaders)) head += `${name}: ${value}\r\n`;
  head += "Connection: close\r\n\r\n";
  // Header values are bytes (Node gives them as latin1 strings): written back as they came, never as UTF-8.
  client.write(head, "latin1");
  response.pipe(client);
  response.on("error", () => client.destroy());
  client.on("close", () => response.destroy());
}

/**
 * Our 101 to the client: the backend's headers with the accept for the client's key (`acceptKeyFor`), and the
 * gateway's sticky-session cookie when there is one.
 */
export function writeSwitchingProtocols(
  client: Socket,
  accept: string,
  response: UpgradeResponse,
  stickyCookie: string | undefined,
): void {
  const extra: Array<[string, string]> = stickyCookie === undefined ? [] : [["Set-Cookie", stickyCookie]];
  // Header values are bytes (latin1 strings here): written back as they came, never re-encoded as UTF-8.
  client.write(switchingProtocolsHead(accept, response, extra), "latin1");
}

/**
 * A backend's refusal relayed on the client's HTTP/2 stream (an extended CONNECT): status, end-to-end headers and
 * body as they came; the stream ends with the body, and each side's end or failure takes the other.
 */
export function relayBackendAnswerOnStream(response: IncomingMessage, client: ServerHttp2Stream): void {
  response.on("error", () => closeStream(client));
  client.on("close", () => response.destroy());
  if (client.destroyed) {
    response.destroy();
    return;
  }
  try {
    client.respond(relayedResponseFields(response.statusCode ?? 502, response.rawHeaders));
  } catch {
    // A header HTTP/2 cannot carry: the client learns no more than that the backend said no.
    writeStreamRefusal(client, 502, "backend refused the upgrade");
    response.destroy();
    return;
  }
  response.pipe(client);
}

/** Our `:status 200` for an extended CONNECT (RFC 8441 §5), the backend's 101 headers and the sticky cookie on it. */
export function acceptOnStream(
  client: ServerHttp2Stream,
  response: UpgradeResponse,
  stickyCookie: string | undefined,
): boolean {
  const extra: Array<[string, string]> = stickyCookie === undefined ? [] : [["Set-Cookie", stickyCookie]];
  try {
    client.respond(extendedConnectFields(response, extra));
    return true;
  } catch {
    return false;
  }
}
