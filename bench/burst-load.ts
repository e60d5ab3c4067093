/**
 * The load generator of the storm and wss:// scenarios (storm.ts, tls-scenarios.ts), apart from load.ts so that
 * the measured loops there stay as they are. Run as `node dist/bench/burst-load.js --burst-worker` by
 * `BurstWorkers`; one command at a time:
 * - `storm`: open N connections at once, each sends one message and waits for its echo; all are held until the
 *   last has echoed (or failed), then closed.
 * - `tls-open` / `tls-run` / `tls-close`: kept connections for the echo loops, or open → echo → close cycles, over
 *   ws:// or wss:// (TLS 1.3 only, the bench's CA), offering the last session ticket a loop got when asked to.
 */
import type { ChildProcess } from "node:child_process";
import { serveCommands, WorkerPool } from "./worker-pool.js";
import { randomFillSync } from "node:crypto";
import type { ClientRequestArgs } from "node:http";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { WebSocket, type ClientOptions } from "ws";
import { addTally, type Tally } from "./protocol.js";

const BINARY = { binary: true } as const;
/** Latencies a worker sends back per command, at most (a uniform-enough sample: every k-th). */
const LATENCY_CAP = 20_000;
const CLOSE_TIMEOUT_MS = 10_000;
/** The TLS 1.3 suite every client offers, alone: the comparison is of proxies, not of their suite preferences. */
export const TLS_SUITE = "TLS_AES_128_GCM_SHA256";

export interface StormCommand {
  type: "storm";
  url: string;
  clients: number;
  size: number;
  /** Connections not echoed by then count as failed ("no echo within ..."). */
  timeoutMs: number;
}

export interface StormReply {
  type: "stormed";
  /** Epoch ms (performance.timeOrigin-based) when this worker started opening, and when its last echo came. */
  startedAt: number;
  lastEchoAt: number;
  echoed: number;
  failed: number;
  /** ms from the storm's start to each client's echo. */
  latencies: number[];
  /** ECONNREFUSED among the failures: the listener refused (backlog full, or not listening). */
  refused: number;
  problems: Tally;
}

/** TLS settings of a client: the CA its server certificate chains to; TLS 1.3 only. */
export interface TlsClient {
  ca: string;
  servername: string;
}

export interface TlsOpenCommand {
  type: "tls-open";
  url: string;
  connections: number;
  tls: TlsClient | undefined;
}

export interface TlsRunCommand {
  type: "tls-run";
  /** echo: one message in flight on each kept connection; cycle: open → echo → close loops. */
  kind: "echo" | "cycle";
  url: string;
  size: number;
  /** cycle: concurrent loops in this worker. */
  loops: number;
  durationMs: number;
  /** cycle: stop once this worker has started this many cycles (a warm-up by count), still bounded by durationMs. */
  cycles?: number | undefined;
  tls: TlsClient | undefined;
  /** cycle over TLS: offer the session ticket the loop's previous connection got. */
  resume: boolean;
}

export interface TlsCloseCommand {
  type: "tls-close";
}

export type BurstCommand = StormCommand | TlsOpenCommand | TlsRunCommand | TlsCloseCommand;

/** What a sample TLS connection negotiated. */
export interface TlsSample {
  protocol: string;
  cipher: string;
  resumed: boolean;
}

export interface TlsRunReply {
  type: "tls-result";
  count: number;
  elapsedMs: number;
  latencies: number[];
  /** cycle over TLS: handshakes done, and how many resumed a session. */
  handshakes: number;
  resumed: number;
  /** Protocol versions negotiated, by name (TLSv1.3 ...). */
  protocols: Tally;
  sample: TlsSample | undefined;
  problems: Tally;
}

export interface TlsOpenReply {
  type: "tls-opened";
  opened: number;
  protocols: Tally;
  sample: TlsSample | undefined;
  problems: Tally;
}

export interface TlsClosedReply {
  type: "tls-closed";
  problems: Tally;
}

export interface BurstErrorReply {
  type: "error";
  message: string;
}

export type BurstReply = StormReply | TlsRunReply | TlsOpenReply | TlsClosedReply | BurstErrorReply;

/** The reason a client failed, short: an error code, an HTTP status, or the close code. */
export function failureReason(error: Error | undefined, closeCode: number): string {
  if (error !== undefined) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined) return code;
    const status = /Unexpected server response: (\d+)/.exec(error.message);
    if (status?.[1] !== undefined) return `HTTP ${status[1]}`;
    return error.message.slice(0, 60);
  }
  return `close ${closeCode}`;
}

/** Every k-th value so that at most `cap` remain. */
export function thin(values: readonly number[], cap: number): number[] {
  if (values.length <= cap) return [...values];
  const step = values.length / cap;
  return Array.from({ length: cap }, (_, index) => values[Math.floor(index * step)] as number);
}

function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

// ---- the worker's side ----

/** What the TLS handshakes of a run negotiated. */
interface TlsCounts {
  handshakes: number;
  resumed: number;
  protocols: Tally;
  sample: TlsSample | undefined;
}

function newTlsCounts(): TlsCounts {
  return { handshakes: 0, resumed: 0, protocols: {}, sample: undefined };
}

/** One client's ticket slot: the session its previous connection got, offered on its next. */
interface Ticket {
  session: Buffer | undefined;
}

/**
 * ws client options; over TLS (`client` set) a connection hook that counts what each handshake negotiated and,
 * given a `ticket`, offers the session it holds and keeps the newest one the server sends.
 */
function clientOptions(client: TlsClient | undefined, counts: TlsCounts, ticket?: Ticket): ClientOptions {
  const options: ClientOptions = { perMessageDeflate: false, handshakeTimeout: 30_000, skipUTF8Validation: true };
  if (client === undefined) return options;
  const connect = (args: ClientRequestArgs): Socket => {
    const socket = tls.connect({
      host: args.host ?? "127.0.0.1",
      port: Number(args.port),
      servername: client.servername,
      ca: client.ca,
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      // One suite for every target (servers differ in their preference: nginx and HAProxy pick AES-256).
      ciphers: TLS_SUITE,
      ALPNProtocols: ["http/1.1"],
      ...(ticket?.session !== undefined ? { session: ticket.session } : {}),
    });
    if (ticket !== undefined) socket.on("session", (session: Buffer) => (ticket.session = session));
    socket.once("secureConnect", () => {
      counts.handshakes++;
      const resumed = socket.isSessionReused();
      if (resumed) counts.resumed++;
      const protocol = socket.getProtocol() ?? "unknown";
      addTally(counts.protocols, protocol);
      // The sample is the latest connection: with resumption on, one that offered a ticket.
      counts.sample = { protocol, cipher: socket.getCipher().name, resumed };
    });
    return socket;
  };
  // ws calls it with the request's options object only (its own tlsConnect has the same shape).
  options.createConnection = connect as unknown as ClientOptions["createConnection"];
  return options;
}

class BurstWorker {
  private readonly payloads = new Map<number, Buffer>();
  private kept: WebSocket[] = [];
  /** Each cycle loop's ticket, kept from one run to the next (warm-up, then measured) for the same URL. */
  private tickets: Ticket[] = [];
  private ticketsUrl = "";

  async handle(command: BurstCommand): Promise<BurstReply> {
    try {
      switch (command.type) {
        case "storm":
          return await this.storm(command);
        case "tls-open":
          return await this.open(command);
        case "tls-run":
          return await (command.kind === "echo" ? this.echo(command) : this.cycles(command));
        case "tls-close":
          return await this.closeKept();
      }
    } catch (error) {
      return { type: "error", message: (error as Error).stack ?? String(error) };
    }
  }

  private payload(size: number): Buffer {
    let payload = this.payloads.get(size);
    if (payload === undefined) {
      payload = randomFillSync(Buffer.allocUnsafe(size));
      this.payloads.set(size, payload);
    }
    return payload;
  }

  // ---- storm ----

  private storm(command: StormCommand): Promise<StormReply> {
    const payload = this.payload(command.size);
    const options = clientOptions(undefined, newTlsCounts());
    options.handshakeTimeout = command.timeoutMs;
    const sockets: WebSocket[] = [];
    const latencies: number[] = [];
    const problems: Tally = {};
    let failed = 0;
    let refused = 0;
    let lastEchoAt = 0;
    const start = performance.now();
    const startedAt = epochNow();
    return new Promise((resolve) => {
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void closeAll(sockets, problems).then(() =>
          resolve({
            type: "stormed",
            startedAt,
            lastEchoAt,
            echoed: latencies.length,
            failed,
            latencies: thin(latencies, LATENCY_CAP),
            refused,
            problems,
          }),
        );
      };
      const done = (): void => {
        if (latencies.length + failed >= command.clients) finish();
      };
      const timer = setTimeout(() => {
        const missing = command.clients - latencies.length - failed;
        if (missing > 0) addTally(problems, `no echo within ${command.timeoutMs / 1000} s`, missing);
        failed += missing;
        finish();
      }, command.timeoutMs);
      for (let index = 0; index < command.clients; index++) {
        const ws = new WebSocket(command.url, options);
        sockets.push(ws);
        let echoed = false;
        let lastError: Error | undefined;
        ws.once("open", () => ws.send(payload, BINARY));
        ws.once("message", () => {
          echoed = true;
          latencies.push(performance.now() - start);
          lastEchoAt = epochNow();
          done();
        });
        ws.on("error", (error: Error) => (lastError ??= error));
        ws.once("close", (code: number) => {
          if (echoed || settled) return;
          const reason = failureReason(lastError, code);
          if (reason === "ECONNREFUSED") refused++;
          addTally(problems, reason);
          failed++;
          done();
        });
      }
    });
  }

  // ---- kept connections (echo loops) ----

  private async open(command: TlsOpenCommand): Promise<TlsOpenReply> {
    const counts = newTlsCounts();
    const options = clientOptions(command.tls, counts);
    const problems: Tally = {};
    const opened = await Promise.all(
      Array.from(
        { length: command.connections },
        () =>
          new Promise<WebSocket | undefined>((resolve) => {
            const ws = new WebSocket(command.url, options);
            let settled = false;
            let lastError: Error | undefined;
            ws.on("error", (error: Error) => (lastError ??= error));
            ws.once("open", () => {
              settled = true;
              resolve(ws);
            });
            ws.once("close", (code: number) => {
              if (settled) return;
              settled = true;
              addTally(problems, `open: ${failureReason(lastError, code)}`);
              resolve(undefined);
            });
          }),
      ),
    );
    for (const ws of opened) if (ws !== undefined) this.kept.push(ws);
    return {
      type: "tls-opened",
      opened: this.kept.length,
      protocols: counts.protocols,
      sample: counts.sample,
      problems,
    };
  }

  private echo(command: TlsRunCommand): Promise<TlsRunReply> {
    const payload = this.payload(command.size);
    const live = this.kept.filter((ws) => ws.readyState === WebSocket.OPEN);
    const problems: Tally = {};
    if (live.length < this.kept.length) addTally(problems, "closed before the run", this.kept.length - live.length);
    const latencies: number[] = [];
    let count = 0;
    let lastAt = 0;
    const start = performance.now();
    const deadline = start + command.durationMs;
    return new Promise((resolve) => {
      let active = live.length;
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (const ws of live) ws.removeAllListeners("message");
        resolve({
          type: "tls-result",
          count,
          elapsedMs: (count > 0 ? lastAt : performance.now()) - start,
          latencies: thin(latencies, LATENCY_CAP),
          handshakes: 0,
          resumed: 0,
          protocols: {},
          sample: undefined,
          problems,
        });
      };
      const timer = setTimeout(() => {
        addTally(problems, "no echo before the drain time ran out", active);
        finish();
      }, command.durationMs + 10_000);
      for (const ws of live) {
        let sentAt = start;
        ws.on("message", () => {
          const now = performance.now();
          count++;
          lastAt = now;
          if (latencies.length < 200_000) latencies.push(now - sentAt);
          if (now < deadline) {
            sentAt = now;
            ws.send(payload, BINARY);
          } else if (--active === 0) finish();
        });
        ws.send(payload, BINARY);
      }
      if (active === 0) finish();
    });
  }

  private async closeKept(): Promise<TlsClosedReply> {
    const problems: Tally = {};
    const kept = this.kept;
    this.kept = [];
    await closeAll(kept, problems);
    return { type: "tls-closed", problems };
  }

  // ---- open → echo → close cycles ----

  private cycles(command: TlsRunCommand): Promise<TlsRunReply> {
    const payload = this.payload(command.size);
    const problems: Tally = {};
    const latencies: number[] = [];
    const state = newTlsCounts();
    let count = 0;
    let started = 0;
    let lastAt = 0;
    const start = performance.now();
    const deadline = start + command.durationMs;
    const cap = command.cycles ?? Infinity;
    return new Promise((resolve) => {
      let active = command.loops;
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({
          type: "tls-result",
          count,
          elapsedMs: (count > 0 ? lastAt : performance.now()) - start,
          latencies: thin(latencies, LATENCY_CAP),
          handshakes: state.handshakes,
          resumed: state.resumed,
          protocols: state.protocols,
          sample: state.sample,
          problems,
        });
      };
      const timer = setTimeout(() => {
        addTally(problems, "cycle still open when the drain time ran out", active);
        finish();
      }, command.durationMs + 15_000);
      const loop = (ticket: Ticket): void => {
        if (settled) return;
        const startedAt = performance.now();
        if (startedAt >= deadline || started >= cap) {
          if (--active === 0) finish();
          return;
        }
        started++;
        const ws = new WebSocket(command.url, clientOptions(command.tls, state, command.resume ? ticket : undefined));
        let echoed = false;
        let lastError: Error | undefined;
        ws.once("open", () => ws.send(payload, BINARY));
        ws.once("message", () => {
          echoed = true;
          ws.close(1000);
        });
        ws.on("error", (error: Error) => (lastError ??= error));
        ws.once("close", (code: number) => {
          if (settled) return;
          const now = performance.now();
          if (echoed && code === 1000) {
            count++;
            lastAt = now;
            if (latencies.length < 200_000) latencies.push(now - startedAt);
            setImmediate(loop, ticket);
            return;
          }
          addTally(problems, `cycle: ${failureReason(lastError, code)}`);
          setTimeout(loop, 20, ticket);
        });
      };
      // Each loop keeps its own ticket, as one client reconnecting would, from the warm-up on.
      if (this.ticketsUrl !== command.url) this.tickets = [];
      this.ticketsUrl = command.url;
      for (let index = 0; index < command.loops; index++) {
        const ticket = (this.tickets[index] ??= { session: undefined });
        loop(ticket);
      }
    });
  }
}

/** Close handshake on every open socket; whatever has not closed in time is terminated and counted. */
function closeAll(sockets: readonly WebSocket[], problems: Tally): Promise<void> {
  const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING);
  if (open.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let pending = open.length;
    const timer = setTimeout(() => {
      let forced = 0;
      for (const ws of open) {
        if (ws.readyState === WebSocket.CLOSED) continue;
        forced++;
        ws.terminate();
      }
      if (forced > 0) addTally(problems, "close: no close answer in time", forced);
      resolve();
    }, CLOSE_TIMEOUT_MS);
    const closed = (): void => {
      if (--pending > 0) return;
      clearTimeout(timer);
      resolve();
    };
    for (const ws of open) {
      ws.once("close", closed);
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      else ws.terminate();
    }
  });
}

// ---- the orchestrator's side ----

/** The burst workers: command i goes to worker i (see worker-pool.ts). */
export type BurstWorkers = WorkerPool<BurstCommand, BurstReply>;
export const BurstWorkers = {
  start: (count: number, track: (child: ChildProcess) => void): Promise<BurstWorkers> =>
    WorkerPool.start<BurstCommand, BurstReply>(count, {
      script: fileURLToPath(import.meta.url),
      flag: "--burst-worker",
      name: "burst worker",
      track,
    }),
};

// ---- worker entry point ----

if (process.argv[2] === "--burst-worker" && process.send !== undefined) {
  const worker = new BurstWorker();
  serveCommands((command: BurstCommand) => worker.handle(command));
}
