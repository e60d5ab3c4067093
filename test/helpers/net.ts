import net from "node:net";
import { WebSocket } from "ws";

/** Ports freePort gave in this process: the kernel may give a closed port again, and a test's "dead" port must not
 * become its gateway's (its health checks and dials then reach the gateway itself). */
const given = new Set<number>();

/** How many times freePort asks the kernel before it takes what it got. */
const FREE_PORT_TRIES = 20;

function boundPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A port that was free a moment ago on 127.0.0.1 (the gateway's config needs a number before it starts), never one
 * it gave before in this process.
 */
export async function freePort(): Promise<number> {
  let port = await boundPort();
  for (let tries = 1; given.has(port) && tries < FREE_PORT_TRIES; tries++) port = await boundPort();
  given.add(port);
  return port;
}

/** Resolves with `value` or rejects after `ms`, so no test can hang. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

export interface RawExchange {
  /** Everything the server sent until it closed the connection (or the time ran out). */
  received: Buffer;
  /** The server closed the connection (FIN or reset) within the time. */
  closed: boolean;
}

/** Sends raw bytes on a fresh TCP connection and collects the answer until the server closes or `ms` pass. */
export function rawExchange(port: number, request: string | Buffer, ms = 2000): Promise<RawExchange> {
  return exchangeOn(net.connect(port, "127.0.0.1"), request, ms);
}

/**
 * Writes `request` on `socket` (a fresh one: TCP, or TLS with `writeOn` "secureConnect") once it emits `writeOn`,
 * or at once, and collects the answer until the server closes or `ms` pass.
 */
export function exchangeOn(
  socket: net.Socket,
  request: string | Buffer,
  ms: number,
  writeOn?: "secureConnect",
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    if (writeOn === undefined) socket.write(request);
    else socket.once(writeOn, () => socket.write(request));
  });
}

/** The status code of a raw HTTP answer, or 0. */
export function statusOf(answer: Buffer): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(answer.toString("latin1"));
  return match === null ? 0 : Number(match[1]);
}

/** Polls `check` every 20 ms until it returns a value other than undefined; gives up (and stops polling) after `ms`. */
export async function waitUntil<T>(check: () => T | undefined, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Opens a WebSocket to `url` that must be refused: resolves with the refusal's HTTP status. */
export function refusal(url: string): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on("open", () => reject(new Error("the handshake was accepted")));
      ws.on("unexpected-response", (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        ws.terminate();
      });
      ws.on("error", reject);
    }),
    5000,
    `a refusal on ${url}`,
  );
}
