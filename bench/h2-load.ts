/**
 * The RFC 8441 load generator of the bench's h2 scenarios (h2-scenarios.ts), run as `node dist/bench/h2-load.js
 * --h2-worker` by `H2Workers`, one command at a time; its loops are also exported for tests to run in-process:
 * - `h2-open` / `h2-run echo` / `h2-close`: kept WebSockets, `sessions` of them spread over `connections` h2
 *   connections (many on one: multiplexed; one each: a connection per session), one message in flight on each;
 * - `h2-run cycle`: open (extended CONNECT) → one echo → close loops, on one shared h2 connection per worker, or
 *   each cycle on a connection of its own (TLS handshake, SETTINGS, CONNECT, echo, close, GOAWAY).
 */
import type { ChildProcess } from "node:child_process";
import { serveCommands, WorkerPool } from "./worker-pool.js";
import { randomFillSync } from "node:crypto";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { H2Connection, type H2Target, type H2WebSocket } from "./h2-client.js";
import { addTally, type Tally } from "./protocol.js";

const LATENCY_CAP = 20_000;
const ECHO_TIMEOUT_MS = 10_000;
const RETRY_PAUSE_MS = 20;
export const H2_PATH = "/ws";

export interface H2OpenCommand {
  type: "h2-open";
  target: H2Target;
  connections: number;
  sessions: number;
}

export interface H2RunCommand {
  type: "h2-run";
  kind: "echo" | "cycle";
  size: number;
  durationMs: number;
  /** cycle: the target, concurrent loops, and whether each cycle dials a connection of its own. */
  target?: H2Target;
  loops?: number;
  perConnection?: boolean;
}

export interface H2CloseCommand {
  type: "h2-close";
}

export type H2Command = H2OpenCommand | H2RunCommand | H2CloseCommand;

export interface H2RunResult {
  count: number;
  elapsedMs: number;
  /** ms per echo (echo) or per whole cycle (cycle), sampled: every k-th beyond LATENCY_CAP. */
  latencies: number[];
  /** cycle: the h2 connections the loops dialled. */
  connections: number;
  problems: Tally;
}

export type H2Reply =
  | { type: "h2-opened"; opened: number; connections: number; alpn: Tally; problems: Tally }
  | ({ type: "h2-result" } & H2RunResult)
  | { type: "h2-closed"; problems: Tally }
  | { type: "error"; message: string };

function payloadOf(size: number): Buffer {
  const payload = Buffer.allocUnsafe(size);
  randomFillSync(payload);
  return payload;
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return (e.code ?? e.message ?? String(error)).slice(0, 80);
}

/** Keeps every k-th latency once LATENCY_CAP are kept (k doubles), a uniform-enough sample. */
class LatencySample {
  readonly values: number[] = [];
  private every = 1;
  private seen = 0;

  add(ms: number): void {
    if (this.seen++ % this.every !== 0) return;
    this.values.push(ms);
    if (this.values.length >= LATENCY_CAP) {
      this.every *= 2;
      for (let i = 0, j = 0; i < this.values.length; i += 2, j++) this.values[j] = this.values[i] as number;
      this.values.length = Math.ceil(this.values.length / 2);
    }
  }
}

/** Kept WebSockets over h2 connections: what `h2-open` made and `h2-run echo` uses. */
export class H2Pool {
  readonly connections: H2Connection[] = [];
  readonly sockets: H2WebSocket[] = [];
  readonly problems: Tally = {};

  /** `sessions` WebSockets round-robin over `connections` connections. */
  static async open(target: H2Target, connections: number, sessions: number): Promise<H2Pool> {
    const pool = new H2Pool();
    const dialled = await Promise.allSettled(Array.from({ length: connections }, () => H2Connection.open(target)));
    for (const result of dialled) {
      if (result.status === "fulfilled") pool.connections.push(result.value);
      else addTally(pool.problems, `connect: ${describe(result.reason)}`);
    }
    if (pool.connections.length === 0) return pool;
    const opened = await Promise.allSettled(
      Array.from({ length: sessions }, (_, i) =>
        (pool.connections[i % pool.connections.length] as H2Connection).openWebSocket(H2_PATH),
      ),
    );
    for (const result of opened) {
      if (result.status === "fulfilled") pool.sockets.push(result.value);
      else addTally(pool.problems, `open: ${describe(result.reason)}`);
    }
    return pool;
  }

  alpn(): Tally {
    const tally: Tally = {};
    for (const connection of this.connections) addTally(tally, connection.alpn);
    return tally;
  }

  /** One message in flight on every socket until `durationMs` is up; then waits for the last echoes. */
  echo(size: number, durationMs: number): Promise<H2RunResult> {
    const payload = payloadOf(size);
    const sample = new LatencySample();
    const problems: Tally = {};
    const started = performance.now();
    const deadline = started + durationMs;
    let count = 0;
    return new Promise<H2RunResult>((resolve) => {
      let running = this.sockets.length;
      const finish = (): void => {
        if (--running > 0) return;
        resolve({ count, elapsedMs: performance.now() - started, latencies: sample.values, connections: 0, problems });
      };
      if (running === 0) {
        running = 1;
        finish();
        return;
      }
      for (const socket of this.sockets) {
        let sentAt = 0;
        let done = false;
        const stop = (problem?: string): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          socket.onMessage = () => undefined;
          if (problem !== undefined) addTally(problems, problem);
          finish();
        };
        const timer = setTimeout(() => stop("no echo within 10 s"), ECHO_TIMEOUT_MS);
        socket.onMessage = (echoed) => {
          const now = performance.now();
          if (echoed.length !== size) addTally(problems, `echo of ${echoed.length} bytes, sent ${size}`);
          count++;
          sample.add(now - sentAt);
          if (now >= deadline) return stop();
          sentAt = now;
          timer.refresh();
          socket.send(payload);
        };
        void socket.ended.then(() => stop(`stream ended: ${socket.closeCode ?? socket.problem ?? "reset"}`));
        sentAt = performance.now();
        socket.send(payload);
      }
    });
  }

  async close(): Promise<Tally> {
    await Promise.all(this.sockets.map((socket) => socket.close()));
    for (const socket of this.sockets)
      if (socket.problem !== undefined) addTally(this.problems, `close: ${socket.problem}`);
    await Promise.all(this.connections.map((connection) => connection.close()));
    this.sockets.length = 0;
    this.connections.length = 0;
    return this.problems;
  }
}

/**
 * One open → echo → close on `connection`: `echo` is the problem before the echo came back (the cycle failed),
 * `close` one with the close (the cycle counts, the problem is tallied: a close frame missing is the gateway's
 * fault to report, not a reason to measure nothing).
 */
async function oneCycle(connection: H2Connection, payload: Buffer): Promise<{ echo?: string; close?: string }> {
  const socket = await connection.openWebSocket(H2_PATH);
  const echoed = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve("no echo within 10 s"), ECHO_TIMEOUT_MS);
    socket.onMessage = (data) => {
      clearTimeout(timer);
      resolve(data.length === payload.length ? undefined : `echo of ${data.length} bytes`);
    };
    void socket.ended.then(() => {
      clearTimeout(timer);
      resolve(`stream ended before the echo: ${socket.closeCode ?? socket.problem ?? "reset"}`);
    });
    socket.send(payload);
  });
  await socket.close();
  if (echoed !== undefined) return { echo: echoed };
  return socket.problem === undefined ? {} : { close: `close: ${socket.problem}` };
}

/**
 * `loops` concurrent open → echo → close loops until `durationMs` is up: on one shared connection (dialled first,
 * outside the measurement), or each cycle on a connection of its own.
 */
export async function cycleLoops(
  target: H2Target,
  size: number,
  loops: number,
  durationMs: number,
  perConnection: boolean,
): Promise<H2RunResult> {
  const payload = payloadOf(size);
  const sample = new LatencySample();
  const problems: Tally = {};
  let shared: H2Connection | undefined;
  let connections = 0;
  if (!perConnection) {
    shared = await H2Connection.open(target);
    connections++;
  }
  const started = performance.now();
  const deadline = started + durationMs;
  let count = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const began = performance.now();
      let problem: string | undefined;
      let own: H2Connection | undefined;
      try {
        if (perConnection) {
          own = await H2Connection.open(target);
          connections++;
        }
        const cycle = await oneCycle(own ?? (shared as H2Connection), payload);
        problem = cycle.echo;
        if (cycle.close !== undefined) addTally(problems, cycle.close);
      } catch (error) {
        problem = describe(error);
      } finally {
        if (own !== undefined) await own.close();
      }
      if (problem === undefined) {
        count++;
        sample.add(performance.now() - began);
      } else {
        addTally(problems, problem);
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      }
    }
  };
  await Promise.all(Array.from({ length: loops }, loop));
  const elapsedMs = performance.now() - started;
  if (shared !== undefined) await shared.close();
  return { count, elapsedMs, latencies: sample.values, connections, problems };
}

// ---- the worker process ----

let pool: H2Pool | undefined;

async function handle(command: H2Command): Promise<H2Reply> {
  switch (command.type) {
    case "h2-open": {
      if (pool !== undefined) await pool.close();
      pool = await H2Pool.open(command.target, command.connections, command.sessions);
      return {
        type: "h2-opened",
        opened: pool.sockets.length,
        connections: pool.connections.length,
        alpn: pool.alpn(),
        problems: { ...pool.problems },
      };
    }
    case "h2-run": {
      if (command.kind === "echo") {
        if (pool === undefined) throw new Error("h2-run echo before h2-open");
        return { type: "h2-result", ...(await pool.echo(command.size, command.durationMs)) };
      }
      if (command.target === undefined || command.loops === undefined)
        throw new Error("h2-run cycle needs target and loops");
      return {
        type: "h2-result",
        ...(await cycleLoops(
          command.target,
          command.size,
          command.loops,
          command.durationMs,
          command.perConnection === true,
        )),
      };
    }
    case "h2-close": {
      const problems = pool === undefined ? {} : await pool.close();
      pool = undefined;
      return { type: "h2-closed", problems };
    }
  }
}

if (process.argv.includes("--h2-worker") && process.send !== undefined) {
  serveCommands(handle);
}

/** The h2 workers: command i goes to worker i (see worker-pool.ts). */
export type H2Workers = WorkerPool<H2Command, H2Reply>;
export const H2Workers = {
  start: (count: number, track: (child: ChildProcess) => void = () => undefined): Promise<H2Workers> =>
    WorkerPool.start<H2Command, H2Reply>(count, {
      script: fileURLToPath(import.meta.url),
      flag: "--h2-worker",
      name: "h2 worker",
      track,
    }),
};
