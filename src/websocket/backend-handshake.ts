import http, { type ClientRequest, type IncomingMessage } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import {
  UpstreamConnectError,
  UpstreamDialTimeoutError,
  UpstreamHandshakeTimeoutError,
  UpstreamResetError,
  type GatewayError,
} from "../errors.js";

export interface BackendHandshakeRequest {
  /** The backend: ws:// or wss:// (http:// and https:// are taken as the same). */
  url: URL;
  /** `host:port`, for messages. */
  label: string;
  /** Request target: path and query. */
  target: string;
  /** Every header to send, in order, `Host` included. */
  headers: ReadonlyArray<readonly [string, string]>;
  dialTimeout: number;
  handshakeTimeout: number;
}

export type BackendHandshakeResult =
  | { kind: "upgraded"; response: IncomingMessage; socket: Socket; head: Buffer }
  /** The backend answered with something other than 101; the answer is the client's to see. */
  | { kind: "answered"; response: IncomingMessage };

export interface BackendHandshake {
  readonly result: Promise<BackendHandshakeResult>;
  /** Gives up (the client left): the backend connection is destroyed. */
  abort(): void;
}

function hostOf(url: URL): string {
  // URL keeps IPv6 literals in brackets; sockets want them bare.
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

/** Opens a TCP (or TLS) connection to a backend and sends the upgrade request; settles once it answers. */
export function openBackendHandshake(request: BackendHandshakeRequest): BackendHandshake {
  const secure = request.url.protocol === "wss:" || request.url.protocol === "https:";
  const flatHeaders: string[] = [];
  for (const [name, value] of request.headers) flatHeaders.push(name, value);
  const options = {
    host: hostOf(request.url),
    port: request.url.port === "" ? (secure ? 443 : 80) : Number(request.url.port),
    method: "GET",
    path: request.target,
    headers: flatHeaders,
    setHost: false,
    agent: false as const,
  };
  let clientRequest: ClientRequest | undefined;
  const result = new Promise<BackendHandshakeResult>((resolve, reject) => {
    let connected = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (error: GatewayError | null, value?: BackendHandshakeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error !== null) {
        req.destroy();
        reject(error);
      } else if (value !== undefined) {
        resolve(value);
      }
    };
    const req = (secure ? https : http).request(options);
    clientRequest = req;
    timer = setTimeout(() => settle(new UpstreamDialTimeoutError(request.label)), request.dialTimeout);
    req.on("socket", (socket: Socket) => {
      socket.setNoDelay(true);
      socket.once(secure ? "secureConnect" : "connect", () => {
        connected = true;
        clearTimeout(timer);
        timer = setTimeout(() => settle(new UpstreamHandshakeTimeoutError(request.label)), request.handshakeTimeout);
      });
    });
    req.on("upgrade", (response: IncomingMessage, socket: Socket, head: Buffer) => {
      if (settled) {
        socket.destroy();
        return;
      }
      socket.pause();
      settle(null, { kind: "upgraded", response, socket, head });
    });
    req.on("response", (response: IncomingMessage) => {
      response.pause();
      settle(null, { kind: "answered", response });
    });
    req.on("error", (error: NodeJS.ErrnoException) => {
      const reason = error.code ?? error.message;
      settle(
        connected ? new UpstreamResetError(request.label, reason) : new UpstreamConnectError(request.label, reason),
      );
    });
    req.end();
  });
  return {
    result,
    abort: () => clientRequest?.destroy(),
  };
}
