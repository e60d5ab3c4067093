// Sessions that stream numbered messages both ways, and a backend that checks them: what a gap, a repeat or a close
// anywhere between the two ends looks like. Used to prove that something done to the gateway in the middle (an
// upgrade, a reload) loses, doubles or reorders nothing.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { withTimeout } from "./net.js";

/** What one end of one session has seen of the numbers the other end sent: 0, 1, 2, ... in order. */
export class NumberedTally {
  /** The next number this end expects. */
  next = 0;
  received = 0;
  /** Numbers skipped (each missing number counts once). */
  gaps = 0;
  /** Numbers seen again or out of order. */
  repeats = 0;
  /** Numbers this end has sent. */
  sent = 0;
  /** Closes this end saw while the test still ran the session: each is a failure. */
  closes: string[] = [];
  /** When the last number came in (performance.now()), and the longest wait between two. */
  lastAt = 0;
  longestPauseMs = 0;

  take(text: string, now: number): void {
    const number = Number(text);
    this.received++;
    if (this.lastAt > 0) this.longestPauseMs = Math.max(this.longestPauseMs, now - this.lastAt);
    this.lastAt = now;
    if (number === this.next) this.next++;
    else if (number > this.next) {
      this.gaps += number - this.next;
      this.next = number + 1;
    } else this.repeats++;
  }
}

/** The backend's side: numbered sessions (`?s=KEY`), raw ones that echo and record (`?raw=KEY`), probes (else). */
export class NumberedBackend {
  readonly sessions = new Map<string, { socket: WebSocket; tally: NumberedTally }>();
  /** Whole messages each raw session sent, in order. */
  readonly rawMessages = new Map<string, string[]>();
  probes = 0;
  private ticker: NodeJS.Timeout | undefined;

  private constructor(
    readonly server: http.Server,
    readonly wss: WebSocketServer,
    readonly port: number,
  ) {}

  static start(): Promise<NumberedBackend> {
    const server = http.createServer((_req, res) => res.end());
    const wss = new WebSocketServer({ server });
    return new Promise((resolve) => {
      server.listen(0, "127.0.0.1", () => {
        const backend = new NumberedBackend(server, wss, (server.address() as AddressInfo).port);
        wss.on("connection", (socket, req) => backend.accept(socket, req));
        resolve(backend);
      });
    });
  }

  private accept(socket: WebSocket, req: http.IncomingMessage): void {
    socket.on("error", () => socket.terminate());
    const query = new URL(req.url ?? "/", "http://backend").searchParams;
    const key = query.get("s");
    const raw = query.get("raw");
    if (key !== null) {
      const tally = new NumberedTally();
      this.sessions.set(key, { socket, tally });
      socket.on("message", (data) => tally.take(String(data), performance.now()));
      socket.on("close", (code, reason) => tally.closes.push(`backend saw ${code} ${String(reason)}`));
    } else if (raw !== null) {
      const messages: string[] = [];
      this.rawMessages.set(raw, messages);
      socket.on("message", (data, binary) => {
        messages.push(String(data));
        socket.send(data, { binary });
      });
    } else {
      this.probes++;
    }
  }

  /** Sends the next number on every numbered session every `intervalMs`. */
  stream(intervalMs: number): void {
    this.ticker = setInterval(() => {
      for (const { socket, tally } of this.sessions.values()) {
        if (socket.readyState !== WebSocket.OPEN) continue;
        socket.send(String(tally.sent++));
      }
    }, intervalMs);
  }

  stopStreaming(): void {
    clearInterval(this.ticker);
  }

  close(): Promise<void> {
    this.stopStreaming();
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface NumberedClient {
  key: string;
  ws: WebSocket;
  /** The client's own port: the session list's `client` is 127.0.0.1:<this>. */
  localPort: number;
  tally: NumberedTally;
}

/** Opens `count` numbered sessions to `url` (`?s=<prefix><i>` is added), `concurrency` handshakes at a time. */
export async function openNumbered(
  url: string,
  count: number,
  options: { prefix?: string; concurrency?: number; wsOptions?: ConstructorParameters<typeof WebSocket>[2] } = {},
): Promise<NumberedClient[]> {
  const clients: NumberedClient[] = [];
  let nextIndex = 0;
  const openOne = async (index: number): Promise<void> => {
    const key = `${options.prefix ?? ""}${index}`;
    const ws = new WebSocket(`${url}?s=${key}`, options.wsOptions);
    const tally = new NumberedTally();
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once("open", () => resolve());
        ws.once("error", reject);
      }),
      15_000,
      `session ${key} to open`,
    );
    ws.on("error", () => {});
    ws.on("message", (data) => tally.take(String(data), performance.now()));
    ws.on("close", (code, reason) => tally.closes.push(`client saw ${code} ${String(reason)}`));
    const socket = (ws as unknown as { _socket: Socket })._socket;
    clients.push({ key, ws, localPort: socket.localPort ?? 0, tally });
  };
  const lane = async (): Promise<void> => {
    while (nextIndex < count) await openOne(nextIndex++);
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 25 }, lane));
  return clients;
}

/** Sends the next number on every client every `intervalMs`; returns the stop. */
export function streamFromClients(clients: readonly NumberedClient[], intervalMs: number): () => void {
  const ticker = setInterval(() => {
    for (const client of clients) {
      if (client.ws.readyState !== WebSocket.OPEN) continue;
      client.ws.send(String(client.tally.sent++));
    }
  }, intervalMs);
  return () => clearInterval(ticker);
}

/** What went wrong across all sessions, both ways; all zero (and no closes) is the pass. */
export interface StreamVerdict {
  sessions: number;
  /** Numbers each way that reached the other end. */
  toBackend: number;
  toClient: number;
  gaps: number;
  repeats: number;
  /** Numbers sent and never received (after the flush). */
  missing: number;
  closes: string[];
  /** Sessions the backend never saw. */
  unknown: string[];
  /** The longest wait between two numbers, over all sessions and both ways (ms). */
  longestPauseMs: number;
}

/**
 * Waits (bounded) until everything sent has arrived both ways, then adds it up. Call after both ends stopped
 * sending.
 */
export async function settleAndCount(
  clients: readonly NumberedClient[],
  backend: NumberedBackend,
  ms = 10_000,
): Promise<StreamVerdict> {
  const pending = (): number => {
    let count = 0;
    for (const client of clients) {
      const far = backend.sessions.get(client.key);
      if (far === undefined) continue;
      count += Math.max(0, client.tally.sent - far.tally.next) + Math.max(0, far.tally.sent - client.tally.next);
    }
    return count;
  };
  const deadline = Date.now() + ms;
  while (pending() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const verdict: StreamVerdict = {
    sessions: clients.length,
    toBackend: 0,
    toClient: 0,
    gaps: 0,
    repeats: 0,
    missing: pending(),
    closes: [],
    unknown: [],
    longestPauseMs: 0,
  };
  for (const client of clients) {
    const far = backend.sessions.get(client.key);
    if (far === undefined) {
      verdict.unknown.push(client.key);
      continue;
    }
    verdict.toBackend += far.tally.received;
    verdict.toClient += client.tally.received;
    verdict.gaps += far.tally.gaps + client.tally.gaps;
    verdict.repeats += far.tally.repeats + client.tally.repeats;
    verdict.closes.push(...client.tally.closes.map((c) => `${client.key}: ${c}`));
    verdict.closes.push(...far.tally.closes.map((c) => `${client.key}: ${c}`));
    verdict.longestPauseMs = Math.max(verdict.longestPauseMs, far.tally.longestPauseMs, client.tally.longestPauseMs);
  }
  return verdict;
}

/**
 * Opens and closes sessions to `url` back to back (`lanes` at a time) until stopped: every failure to open (refused,
 * reset, a status other than 101, a timeout) is counted by its cause.
 */
export class ReconnectLoop {
  attempts = 0;
  opened = 0;
  readonly failures = new Map<string, number>();
  private running = true;
  private readonly done: Promise<void[]>;

  constructor(url: string, lanes = 2) {
    this.done = Promise.all(Array.from({ length: lanes }, () => this.lane(url)));
  }

  get failed(): number {
    let sum = 0;
    for (const count of this.failures.values()) sum += count;
    return sum;
  }

  private async lane(url: string): Promise<void> {
    while (this.running) {
      this.attempts++;
      const cause = await new Promise<string | undefined>((resolve) => {
        const ws = new WebSocket(url);
        const timer = setTimeout(() => {
          ws.terminate();
          resolve("no 101 within 5 s");
        }, 5000);
        const finish = (why: string | undefined): void => {
          clearTimeout(timer);
          resolve(why);
        };
        ws.once("open", () => {
          ws.close();
          finish(undefined);
        });
        ws.once("unexpected-response", (_req, res) => {
          res.resume();
          ws.terminate();
          finish(`status ${res.statusCode ?? 0}`);
        });
        ws.once("error", (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
      });
      if (cause === undefined) this.opened++;
      else this.failures.set(cause, (this.failures.get(cause) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await withTimeout(this.done, 10_000, "the reconnect loop to stop");
  }
}
