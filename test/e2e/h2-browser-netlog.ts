/**
 * Reads Chromium's net log (`--log-net-log=FILE`, written out when the browser closes) for the browser tests: which
 * TCP connections it dialled, which HTTP/2 sessions ran on them, the SETTINGS each session received, and the request
 * headers it sent on each. That is the browser's own account of "the page, its asset and the WebSocket used one
 * connection", which counting connections at the server cannot give (Chromium may dial a spare one it never uses).
 */
import { readFileSync } from "node:fs";

export interface NetLogH2Session {
  /** The net log's source id of the HTTP2_SESSION. */
  id: number;
  /** The local address of the TCP connection it runs on, `127.0.0.1:PORT` (what the server sees as the peer). */
  localAddress: string | undefined;
  /** SETTINGS received from the server, by name (`SETTINGS_ENABLE_CONNECT_PROTOCOL`) → value. */
  settings: Record<string, number>;
  /** Each request sent on it: `GET /`, `GET /app.js`, `CONNECT /ws websocket` (method, path, :protocol). */
  requests: string[];
}

export interface NetLog {
  h2Sessions: NetLogH2Session[];
  /** Every TCP connection made: local → remote address. */
  tcpConnections: Array<{ local: string; remote: string }>;
  /** WebSocket handshakes sent as HTTP/1.1 (`GET /ws` with Upgrade), by path. */
  h1WebSocketRequests: string[];
}

interface RawEvent {
  type: number;
  source: { id: number; type: number };
  params?: Record<string, unknown>;
}

interface RawLog {
  constants: { logEventTypes: Record<string, number>; logSourceType: Record<string, number> };
  events: RawEvent[];
}

/** Parses the file; a log cut short (the browser killed) is closed before parsing, as Chromium's own viewer does. */
export function readNetLog(file: string): NetLog {
  let text = readFileSync(file, "utf8").trimEnd();
  if (!text.endsWith("}")) text = `${text.replace(/,$/, "")}]}`;
  const raw = JSON.parse(text) as RawLog;
  const eventName = new Map(Object.entries(raw.constants.logEventTypes).map(([name, id]) => [id, name]));
  const sessions = new Map<number, NetLogH2Session & { socket?: number }>();
  const socketLocal = new Map<number, string>();
  const tcpConnections: NetLog["tcpConnections"] = [];
  const h1WebSocketRequests: string[] = [];
  const sessionOf = (id: number): NetLogH2Session & { socket?: number } => {
    let session = sessions.get(id);
    if (session === undefined) {
      session = { id, localAddress: undefined, settings: {}, requests: [] };
      sessions.set(id, session);
    }
    return session;
  };
  for (const event of raw.events) {
    const name = eventName.get(event.type);
    const params = event.params ?? {};
    switch (name) {
      case "TCP_CONNECT":
        if (typeof params["local_address"] === "string" && typeof params["remote_address"] === "string") {
          socketLocal.set(event.source.id, params["local_address"]);
          tcpConnections.push({ local: params["local_address"], remote: params["remote_address"] });
        }
        break;
      case "HTTP2_SESSION_INITIALIZED": {
        const dependency = params["source_dependency"] as { id: number } | undefined;
        if (dependency !== undefined) sessionOf(event.source.id).socket = dependency.id;
        break;
      }
      case "HTTP2_SESSION_RECV_SETTING": {
        // "8 (SETTINGS_ENABLE_CONNECT_PROTOCOL)"
        const id = /\((\w+)\)/.exec(String(params["id"]))?.[1] ?? String(params["id"]);
        sessionOf(event.source.id).settings[id] = Number(params["value"]);
        break;
      }
      case "HTTP2_SESSION_SEND_HEADERS": {
        const headers = (params["headers"] as string[] | undefined) ?? [];
        const pseudo = (key: string): string | undefined =>
          headers.find((line) => line.startsWith(`${key}: `))?.slice(key.length + 2);
        const protocol = pseudo(":protocol");
        sessionOf(event.source.id).requests.push(
          `${pseudo(":method") ?? "?"} ${pseudo(":path") ?? "?"}${protocol === undefined ? "" : ` ${protocol}`}`,
        );
        break;
      }
      case "HTTP_TRANSACTION_SEND_REQUEST_HEADERS": {
        // HTTP/1.1 requests: the request line and headers as one string.
        const line = String(params["line"] ?? "");
        const headers = (params["headers"] as string[] | undefined) ?? [];
        if (headers.some((header) => /^upgrade: websocket$/i.test(header)))
          h1WebSocketRequests.push(line.split(" ")[1] ?? line);
        break;
      }
      default:
        break;
    }
  }
  const h2Sessions = [...sessions.values()].map(({ socket, ...session }) => ({
    ...session,
    localAddress: socket === undefined ? undefined : socketLocal.get(socket),
  }));
  return { h2Sessions, tcpConnections, h1WebSocketRequests };
}
