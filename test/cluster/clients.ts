import WebSocket from "ws";
import { withTimeout } from "../helpers/net.js";

/** A client session through the gateway, with how it ended once it has. */
export interface EchoClient {
  socket: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  /** Set once the session ended. */
  closeCode?: number;
}

export async function openClient(port: number, path = "/"): Promise<EchoClient> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  socket.on("error", () => undefined);
  const client: EchoClient = {
    socket,
    closed: new Promise((resolve) =>
      socket.on("close", (code, reason) => {
        client.closeCode = code;
        resolve({ code, reason: reason.toString() });
      }),
    ),
  };
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("unexpected-response", (_req, res) => reject(new Error(`status ${res.statusCode}`)));
      socket.once("error", reject);
    }),
    5000,
    "a WebSocket to open",
  );
  return client;
}

/** Opens `count` sessions one after the other (so that round-robin spreads them over the workers). */
export async function openClients(port: number, count: number, path = "/"): Promise<EchoClient[]> {
  const clients: EchoClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await openClient(port, path));
  return clients;
}

/** Sends `text` and resolves with the first message back. */
export function echo(client: EchoClient, text: string, ms = 3000): Promise<string> {
  const answer = new Promise<string>((resolve) => client.socket.once("message", (data) => resolve(data.toString())));
  client.socket.send(text);
  return withTimeout(answer, ms, `the echo of '${text}'`);
}

export function isOpen(client: EchoClient): boolean {
  return client.socket.readyState === WebSocket.OPEN;
}
