/**
 * The load generator. Run as `node dist/bench/load.js --worker` by `LoadWorkers` (fork with an IPC channel); it
 * opens `ws` client connections and runs the measured loops the orchestrator asks for, one command at a time.
 *
 * Measured loops allocate nothing per message beyond what `ws` itself does: payloads are built once per size, send
 * options are shared constants, listeners are attached once per connection, and latencies go to a preallocated
 * Float64Array (a uniform reservoir sample once more arrive than it holds).
 */
import { serveCommands, WorkerPool } from "./worker-pool.js";
import { randomFillSync } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { WebSocket, type ClientOptions, type RawData } from "ws";
import {
  addTally,
  type CheckReply,
  type ClosedReply,
  type Command,
  type LoadKind,
  type OpenReply,
  type Reply,
  type RunCommand,
  type RunReply,
  type Tally,
} from "./protocol.js";

/** Latencies kept per worker and run: 4 MiB; beyond it the sample is thinned uniformly (reservoir sampling). */
const SAMPLE_CAPACITY = 1 << 19;
/** After the measured time, how long replies still in flight may take before they count as unanswered. */
const DRAIN_MS = 5000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** One open → echo → close cycle may take this long before it is cut. */
const CYCLE_TIMEOUT_MS = 10_000;
const CHECK_TIMEOUT_MS = 10_000;
/** Closing every kept connection may take this long, plus CLOSE_MS_PER_CONNECTION each (idle: thousands). */
const CLOSE_TIMEOUT_MS = 5000;
const CLOSE_MS_PER_CONNECTION = 2;
/** A handshake loop whose cycle failed waits this long before the next, so that a refusing server is not hammered. */
const RETRY_PAUSE_MS = 20;

const CLIENT_OPTIONS: ClientOptions = {
  perMessageDeflate: false,
  handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  skipUTF8Validation: true,
};
const BINARY = { binary: true } as const;

function describeError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code ?? error.message.slice(0, 60);
}

/** "1001" or "1001 'client did not answer ping'": the code and, when there is one, the reason. */
function describeClose(code: number, reason: Buffer): string {
  return reason.length === 0 ? String(code) : `${code} '${reason.toString("utf8", 0, Math.min(reason.length, 60))}'`;
}

function byteLength(data: RawData): number {
  if (Buffer.isBuffer(data)) return data.length;
  if (data instanceof ArrayBuffer) return data.byteLength;
  let length = 0;
  for (const part of data) length += part.length;
  return length;
}

class LatencyRecorder {
  private readonly values = new Float64Array(SAMPLE_CAPACITY);
  private length = 0;
  private seen = 0;

  reset(): void {
    this.length = 0;
    this.seen = 0;
  }

  add(ms: number): void {
    this.seen++;
    if (this.length < SAMPLE_CAPACITY) {
      this.values[this.length++] = ms;
      return;
    }
    const slot = Math.floor(Math.random() * this.seen);
    if (slot < SAMPLE_CAPACITY) this.values[slot] = ms;
  }

  /** A copy of the sample (the reply is sent after the measured time, so this allocation is not measured). */
  take(): { latencies: Float64Array; latencySeen: number } {
    return { latencies: this.values.slice(0, this.length), latencySeen: this.seen };
  }
}

/** A kept connection. */
class Conn {
  sentAt = 0;
  inFlight = 0;
  open = true;
  /** How it closed: code and reason. */
  closedWith = "";
  /** We asked for the close. */
  closing = false;

  constructor(readonly ws: WebSocket) {}
}

interface LoopRun {
  kind: LoadKind;
  payload: Buffer;
  record: boolean;
  startedAt: number;
  deadline: number;
  lastAt: number;
  count: number;
  /** handshake: cycles begun, and the most that may begin (RunCommand.cycles). */
  begun: number;
  maxCycles: number;
  /** handshake: close as Go clients do (RunCommand.serverClosesFirst). */
  serverClosesFirst: boolean;
  /** Connections (echo, stream) or loops (handshake) still going. */
  active: number;
  unanswered: number;
  problems: Tally;
  cpuAtStart: NodeJS.CpuUsage;
  timer: NodeJS.Timeout | undefined;
  finished: boolean;
  resolve: (reply: RunReply) => void;
}

interface CheckState {
  pending: number;
  ok: number;
  failed: number;
  problems: Tally;
  finish: () => void;
}

interface CloseState {
  pending: number;
  graceful: number;
  problems: Tally;
  finish: () => void;
}

/** The worker's side: its kept connections and the command being run. */
class LoadWorker {
  private conns: Conn[] = [];
  private readonly recorder = new LatencyRecorder();
  private readonly payloads = new Map<number, Buffer>();
  /** Things that happened between commands (unexpected closes, errors), reported with the next reply. */
  private background: Tally = {};
  private run: LoopRun | undefined;
  private checking: CheckState | undefined;
  private closingAll: CloseState | undefined;
  private expectedSize = 0;

  async handle(command: Command): Promise<Reply> {
    try {
      switch (command.type) {
        case "open":
          return await this.open(command.url, command.connections, command.concurrency);
        case "run":
          return await this.startRun(command);
        case "check":
          return await this.check(command.size);
        case "close":
          return await this.closeAll();
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

  private takeBackground(into: Tally): Tally {
    for (const [key, count] of Object.entries(this.background)) addTally(into, key, count);
    this.background = {};
    return into;
  }

  // ---- kept connections ----

  private async open(url: string, count: number, concurrency: number): Promise<OpenReply> {
    const problems: Tally = {};
    let next = 0;
    let opened = 0;
    let failed = 0;
    const opener = async (): Promise<void> => {
      while (next < count) {
        next++;
        if (await this.openOne(url, problems)) opened++;
        else failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, opener));
    return { type: "opened", opened, failed, problems: this.takeBackground(problems) };
  }

  private openOne(url: string, problems: Tally): Promise<boolean> {
    return new Promise((resolve) => {
      const ws = new WebSocket(url, CLIENT_OPTIONS);
      let conn: Conn | undefined;
      ws.on("error", (error: Error) => {
        addTally(conn === undefined ? problems : this.background, `error ${describeError(error)}`);
      });
      ws.once("open", () => {
        const opened = new Conn(ws);
        conn = opened;
        this.conns.push(opened);
        ws.on("message", (data: RawData) => this.onReply(opened, data));
        resolve(true);
      });
      ws.once("close", (code: number, reason: Buffer) => {
        if (conn === undefined) {
          addTally(problems, `close ${describeClose(code, reason)} while opening`);
          resolve(false);
        } else {
          this.onClose(conn, code, reason);
        }
      });
    });
  }

  private onReply(conn: Conn, data: RawData): void {
    const now = performance.now();
    if (conn.inFlight === 0) {
      addTally(this.background, "message nobody waited for");
      return;
    }
    conn.inFlight--;
    const run = this.run;
    if (run !== undefined) {
      if (byteLength(data) !== this.expectedSize) addTally(run.problems, "echo of the wrong size");
      run.count++;
      run.lastAt = now;
      if (run.kind === "echo" && run.record) this.recorder.add(now - conn.sentAt);
      if (now < run.deadline) {
        conn.sentAt = now;
        conn.inFlight++;
        conn.ws.send(run.payload, BINARY);
      } else if (conn.inFlight === 0) {
        this.loopDone(run);
      }
      return;
    }
    const checking = this.checking;
    if (checking !== undefined) {
      if (byteLength(data) === this.expectedSize) checking.ok++;
      else {
        checking.failed++;
        addTally(checking.problems, "echo of the wrong size");
      }
      if (--checking.pending === 0) checking.finish();
      return;
    }
    addTally(this.background, "late echo (after its run ended)");
  }

  private onClose(conn: Conn, code: number, reason: Buffer): void {
    conn.open = false;
    conn.closedWith = describeClose(code, reason);
    const closing = this.closingAll;
    if (conn.closing && closing !== undefined) {
      if (code === 1000) closing.graceful++;
      else addTally(closing.problems, `close answered with ${code}`);
      if (--closing.pending === 0) closing.finish();
      return;
    }
    addTally(this.background, `unexpected close ${describeClose(code, reason)}`);
    const lost = conn.inFlight;
    conn.inFlight = 0;
    if (lost === 0) return;
    const run = this.run;
    if (run !== undefined) {
      run.unanswered += lost;
      this.loopDone(run);
    }
    const checking = this.checking;
    if (checking !== undefined) {
      checking.failed++;
      addTally(checking.problems, `closed (${describeClose(code, reason)}) before its echo`);
      if (--checking.pending === 0) checking.finish();
    }
  }

  // ---- measured loops ----

  private startRun(command: RunCommand): Promise<RunReply> {
    this.recorder.reset();
    this.expectedSize = command.size;
    return new Promise((resolve) => {
      const now = performance.now();
      const run: LoopRun = {
        kind: command.kind,
        payload: this.payload(command.size),
        record: command.record,
        startedAt: now,
        deadline: now + command.durationMs,
        lastAt: now,
        count: 0,
        begun: 0,
        maxCycles: command.cycles ?? Infinity,
        serverClosesFirst: command.serverClosesFirst === true,
        active: 0,
        unanswered: 0,
        problems: {},
        cpuAtStart: process.cpuUsage(),
        timer: undefined,
        finished: false,
        resolve,
      };
      this.run = run;
      const drainMs = command.kind === "handshake" ? CYCLE_TIMEOUT_MS + 1000 : DRAIN_MS;
      run.timer = setTimeout(() => this.finishRun(run, true), command.durationMs + drainMs);
      if (command.kind === "handshake") {
        run.active = command.loops;
        for (let loop = 0; loop < command.loops; loop++) this.cycle(run, command.url);
      } else {
        const live = this.conns.filter((conn) => conn.open);
        const gone = this.conns.length - live.length;
        if (gone > 0) addTally(run.problems, "connection closed before the run", gone);
        const perConnection = command.kind === "echo" ? 1 : command.inFlight;
        run.active = live.length;
        for (const conn of live) {
          conn.sentAt = now;
          for (let message = 0; message < perConnection; message++) {
            conn.inFlight++;
            conn.ws.send(run.payload, BINARY);
          }
        }
      }
      if (run.active === 0) this.finishRun(run, false);
    });
  }

  private loopDone(run: LoopRun): void {
    if (--run.active <= 0) this.finishRun(run, false);
  }

  private finishRun(run: LoopRun, timedOut: boolean): void {
    if (run.finished) return;
    run.finished = true;
    clearTimeout(run.timer);
    if (this.run === run) this.run = undefined;
    const cpu = process.cpuUsage(run.cpuAtStart);
    if (timedOut) {
      let stuck = 0;
      for (const conn of this.conns) stuck += conn.inFlight;
      if (run.kind !== "handshake") run.unanswered += stuck;
      if (stuck > 0) addTally(run.problems, "no echo before the drain time ran out", stuck);
      if (run.kind === "handshake" && run.active > 0)
        addTally(run.problems, "cycle still open when the drain time ran out", run.active);
    }
    const end = run.count > 0 ? run.lastAt : performance.now();
    run.resolve({
      type: "result",
      count: run.count,
      elapsedMs: end - run.startedAt,
      ...this.recorder.take(),
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      unanswered: run.unanswered,
      problems: this.takeBackground(run.problems),
    });
  }

  /** One handshake loop: open, one echo, close, and again until the deadline. */
  private cycle(run: LoopRun, url: string): void {
    if (run.finished) return;
    const startedAt = performance.now();
    if (startedAt >= run.deadline || run.begun >= run.maxCycles) {
      this.loopDone(run);
      return;
    }
    run.begun++;
    let echoed = false;
    const ws = new WebSocket(url, CLIENT_OPTIONS);
    const timer = setTimeout(() => {
      addTally(run.problems, `cycle cut after ${CYCLE_TIMEOUT_MS / 1000} s`);
      ws.terminate();
    }, CYCLE_TIMEOUT_MS);
    ws.on("open", () => {
      if (run.serverClosesFirst) holdFinUntilPeerFin(ws);
      ws.send(run.payload, BINARY);
    });
    ws.on("message", () => {
      if (echoed) return;
      echoed = true;
      ws.close(1000);
    });
    ws.on("error", (error: Error) => addTally(run.problems, `error ${describeError(error)}`));
    ws.on("close", (code: number, reason: Buffer) => {
      clearTimeout(timer);
      if (run.finished) return;
      const now = performance.now();
      if (echoed && code === 1000) {
        run.count++;
        run.lastAt = now;
        if (run.record) this.recorder.add(now - startedAt);
        this.cycle(run, url);
        return;
      }
      run.unanswered++;
      const close = describeClose(code, reason);
      addTally(run.problems, echoed ? `close ${close} after the echo` : `close ${close} before the echo`);
      setTimeout(() => this.cycle(run, url), RETRY_PAUSE_MS);
    });
  }

  // ---- idle connections ----

  private check(size: number): Promise<CheckReply> {
    this.expectedSize = size;
    const payload = this.payload(size);
    return new Promise((resolve) => {
      const state: CheckState = { pending: 0, ok: 0, failed: 0, problems: this.takeBackground({}), finish: () => {} };
      let timer: NodeJS.Timeout | undefined;
      state.finish = () => {
        if (this.checking !== state) return;
        this.checking = undefined;
        clearTimeout(timer);
        if (state.pending > 0) {
          state.failed += state.pending;
          addTally(state.problems, `no echo within ${CHECK_TIMEOUT_MS / 1000} s`, state.pending);
          for (const conn of this.conns) conn.inFlight = 0;
        }
        resolve({ type: "checked", ok: state.ok, failed: state.failed, problems: state.problems });
      };
      this.checking = state;
      for (const conn of this.conns) {
        if (!conn.open) {
          state.failed++;
          addTally(state.problems, `closed (${conn.closedWith}) before the check`);
          continue;
        }
        state.pending++;
        conn.inFlight++;
        conn.ws.send(payload, BINARY);
      }
      if (state.pending === 0) state.finish();
      else timer = setTimeout(state.finish, CHECK_TIMEOUT_MS);
    });
  }

  private closeAll(): Promise<ClosedReply> {
    const conns = this.conns;
    this.conns = [];
    return new Promise((resolve) => {
      const state: CloseState = { pending: 0, graceful: 0, problems: this.takeBackground({}), finish: () => {} };
      let timer: NodeJS.Timeout | undefined;
      state.finish = () => {
        if (this.closingAll !== state) return;
        this.closingAll = undefined;
        clearTimeout(timer);
        let forced = 0;
        for (const conn of conns) {
          if (!conn.open) continue;
          forced++;
          conn.ws.terminate();
        }
        if (forced > 0) addTally(state.problems, "no close answer in time", forced);
        resolve({ type: "closed", graceful: state.graceful, forced, problems: state.problems });
      };
      this.closingAll = state;
      for (const conn of conns) {
        if (!conn.open) continue;
        conn.closing = true;
        state.pending++;
        conn.ws.close(1000);
      }
      if (state.pending === 0) state.finish();
      else timer = setTimeout(state.finish, CLOSE_TIMEOUT_MS + state.pending * CLOSE_MS_PER_CONNECTION);
    });
  }
}

/**
 * The closing sequence of Go clients (gorilla/websocket, coder/websocket): send the close frame, wait for the
 * server's, then wait for the server to close TCP before closing it. `ws` ends its side as soon as both close frames
 * have passed; here its socket's end() waits for the server's FIN (which Node answers with end() on its own, the
 * socket not being half-open).
 */
function holdFinUntilPeerFin(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (socket === undefined) return;
  const end = socket.end.bind(socket);
  let peerEnded = false;
  socket.once("end", () => (peerEnded = true));
  socket.end = ((...args: Parameters<Socket["end"]>) => {
    if (peerEnded) return end(...args);
    socket.once("end", () => end(...args));
    return socket;
  }) as Socket["end"];
}

// ---- the orchestrator's side ----

/** The load workers: command i goes to worker i (see worker-pool.ts). */
export type LoadWorkers = WorkerPool<Command, Reply>;
export const LoadWorkers = {
  start: (count: number): Promise<LoadWorkers> =>
    WorkerPool.start<Command, Reply>(count, {
      script: fileURLToPath(import.meta.url),
      flag: "--worker",
      name: "load worker",
      serialization: "advanced",
    }),
};

/** `total` split into `parts` near-equal whole shares. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, index) => Math.floor(total / parts) + (index < total % parts ? 1 : 0));
}

// ---- worker entry point ----

if (process.argv[2] === "--worker" && process.send !== undefined) {
  const worker = new LoadWorker();
  serveCommands((command: Command) => worker.handle(command));
}
