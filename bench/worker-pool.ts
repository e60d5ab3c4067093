/**
 * Forked load-generator processes and a request/reply channel to each: what the load, burst and h2 generators share.
 * The orchestrator sends command i to worker i with an id; the worker answers with the same id (see serveCommands).
 */
import { fork, type ChildProcess, type Serializable } from "node:child_process";

/** Every reply may be this instead of its own kind: the command failed in the worker. */
export interface FailedReply {
  type: "error";
  message: string;
}

interface Pending<Reply> {
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface PoolOptions {
  /** The script to fork: a module that calls serveCommands when it sees `flag` in its argv. */
  script: string;
  flag: string;
  /** How errors name a worker: "load worker", "burst worker", "h2 worker". */
  name: string;
  /** "advanced" carries Buffers and Maps; the default is JSON. */
  serialization?: "advanced" | "json";
  /** Told of every child as it is forked (so that an interrupted run can kill it). */
  track?: (child: ChildProcess) => void;
}

const START_TIMEOUT_MS = 10_000;
/** After SIGTERM, how long a worker gets before SIGKILL. */
const STOP_GRACE_MS = 1000;

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export class WorkerPool<Command extends { type: string }, Reply extends { type: string }> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending<Reply | FailedReply>>();

  private constructor(
    private readonly children: ChildProcess[],
    private readonly name: string,
  ) {
    for (const child of children) {
      child.on("message", (message: (Reply | FailedReply) & { id?: number }) => this.answered(message));
      child.on("exit", (code, signal) => {
        const error = new Error(`${name} ${child.pid ?? "?"} exited (${signal ?? code ?? "?"})`);
        for (const [id, waiting] of this.pending) {
          clearTimeout(waiting.timer);
          this.pending.delete(id);
          waiting.reject(error);
        }
      });
    }
  }

  /** Forks `count` workers and waits until each says it is ready. */
  static async start<C extends { type: string }, R extends { type: string }>(
    count: number,
    options: PoolOptions,
  ): Promise<WorkerPool<C, R>> {
    const children = Array.from({ length: count }, () =>
      fork(options.script, [options.flag], {
        serialization: options.serialization ?? "json",
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      }),
    );
    for (const child of children) options.track?.(child);
    const pool = new WorkerPool<C, R>(children, options.name);
    try {
      await Promise.all(children.map((child) => ready(child, options.name)));
    } catch (error) {
      pool.stop();
      throw error;
    }
    return pool;
  }

  get count(): number {
    return this.children.length;
  }

  get pids(): number[] {
    return this.children.flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
  }

  /** Sends `command` to worker `index`; rejects when it does not answer within `timeoutMs` or answers an error. */
  request(index: number, command: Command, timeoutMs: number): Promise<Reply> {
    const child = this.children[index];
    if (child === undefined || !child.connected) return Promise.reject(new Error(`${this.name} ${index} is gone`));
    const id = this.nextId++;
    return new Promise<Reply | FailedReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} ${index} did not answer '${command.type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      child.send({ ...command, id } as Serializable);
    }).then((reply) => {
      if (isFailed(reply)) throw new Error(`${this.name} ${index}: ${reply.message}`);
      return reply;
    });
  }

  /** Sends each worker its own command (index i gets commands[i]) at once; resolves with the replies in order. */
  all(commands: readonly Command[], timeoutMs: number): Promise<Reply[]> {
    return Promise.all(commands.map((command, index) => this.request(index, command, timeoutMs)));
  }

  /** As `all`, when every reply must be of one kind. */
  async allOf<T extends Reply["type"]>(
    commands: readonly Command[],
    expected: T,
    timeoutMs: number,
  ): Promise<Array<Extract<Reply, { type: T }>>> {
    const replies = await this.all(commands, timeoutMs);
    return replies.map((reply) => {
      if (reply.type !== expected) throw new Error(`${this.name}: expected a '${expected}' reply, got '${reply.type}'`);
      return reply as Extract<Reply, { type: T }>;
    });
  }

  /** Asks every worker to exit and kills the ones that are still there a moment later. */
  stop(): void {
    for (const child of this.children) {
      if (!running(child)) continue;
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => {
        if (running(child)) child.kill("SIGKILL");
      }, STOP_GRACE_MS);
      timer.unref();
      child.kill("SIGTERM");
    }
  }

  /** Signals every worker still running (for SIGINT and exit paths). */
  kill(signal: NodeJS.Signals): void {
    for (const child of this.children) if (running(child)) child.kill(signal);
  }

  private answered(message: (Reply | FailedReply) & { id?: number }): void {
    if (message.id === undefined) return;
    const waiting = this.pending.get(message.id);
    if (waiting === undefined) return;
    clearTimeout(waiting.timer);
    this.pending.delete(message.id);
    waiting.resolve(message);
  }
}

function isFailed(reply: { type: string }): reply is FailedReply {
  return reply.type === "error";
}

function ready(child: ChildProcess, name: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`a ${name} did not start within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    child.once("message", () => {
      clearTimeout(timer);
      resolve();
    });
    child.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`a ${name} exited while starting`));
    });
  });
}

/**
 * The worker's side: answers each command with `handle`'s reply under the command's id (a thrown error as a
 * FailedReply), says it is ready, and never outlives the orchestrator.
 */
export function serveCommands<Command extends { type: string }, Reply>(
  handle: (command: Command) => Promise<Reply>,
): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error("serveCommands: this process has no IPC channel");
  process.on("message", (request: Command & { id: number }) => {
    handle(request).then(
      (reply) => {
        if (process.connected) send({ ...reply, id: request.id });
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        if (process.connected) send({ type: "error", message, id: request.id });
      },
    );
  });
  process.on("disconnect", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
  // The orchestrator decides when a run ends; a terminal's ^C reaches it too.
  process.on("SIGINT", () => undefined);
  send({ type: "ready" });
}
