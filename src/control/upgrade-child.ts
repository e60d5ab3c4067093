// The running process's view of the successor it started for `wsgate upgrade`: the child process, its IPC channel,
// and the steps it reports (upgrade-protocol.ts). Any step waited for fails, saying why, when the child exits first.
import { spawn, type ChildProcess } from "node:child_process";
import type { Server as NetServer, Socket } from "node:net";
import type { HandoverChannel } from "../proxy/handover-types.js";
import { StepInbox, type Step } from "./upgrade-inbox.js";
import { SUCCESSOR_ENV, upgradeMessage, type UpgradeMessage } from "./upgrade-protocol.js";

/** How the successor is started: by default this process's own node, entry script and arguments. */
export interface SuccessorCommand {
  execPath: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
}

export function ownCommand(): SuccessorCommand {
  return { execPath: process.execPath, args: [...process.execArgv, ...process.argv.slice(1)], env: process.env };
}

export class SuccessorProcess {
  readonly child: ChildProcess;
  /** Why the child is no more, once it has exited. */
  private ended: string | undefined;
  /** What the child said when it could not start. */
  private failure: string | undefined;
  private readonly inbox = new StepInbox();

  constructor(command: SuccessorCommand) {
    this.child = spawn(command.execPath, command.args, {
      // Its log goes where this process's goes; stdin is nobody's.
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...command.env, [SUCCESSOR_ENV]: String(process.pid) },
    });
    this.child.on("message", this.onMessage);
    this.child.once("exit", this.onExit);
    this.child.on("error", this.onError);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** The next message of `step`; rejects with why when the child says it failed, exits, or is too slow. */
  next(step: Step, timeoutMs: number, what: string): Promise<UpgradeMessage> {
    return this.inbox.next(step, timeoutMs, (end) =>
      end.kind === "timeout"
        ? `the new process (PID ${this.pid}) did not ${what} within ${timeoutMs} ms`
        : (this.failure ?? `${end.why} before it would ${what}`),
    );
  }

  /** The channel as the hand-over of the sessions uses it (see ChildChannel). */
  handoverChannel(): HandoverChannel {
    return new ChildChannel(this.child);
  }

  /** Why the child is no more (it exited, or could not be started); undefined while it runs. */
  get endedWhy(): string | undefined {
    return this.ended;
  }

  send(message: UpgradeMessage, socket?: NetServer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ended !== undefined || !this.child.connected) {
        reject(new Error(this.ended ?? `the new process (PID ${this.pid}) closed its channel`));
        return;
      }
      this.child.send(message, socket, (error) => (error === null ? resolve() : reject(error)));
    });
  }

  /** A failed upgrade: the child goes (SIGKILL: it must not take connections meanwhile). */
  kill(): void {
    if (this.ended === undefined) this.child.kill("SIGKILL");
    this.release();
  }

  /** The child goes on alone: no channel, and this process may exit without it. */
  release(): void {
    this.child.off("message", this.onMessage);
    if (this.child.connected) this.child.disconnect();
    this.child.unref();
  }

  private readonly onMessage = (value: unknown): void => {
    const message = upgradeMessage(value);
    if (message === undefined) return;
    if (message.wsgateUpgrade === "failed") {
      this.failure = `the new process (PID ${this.pid}) could not start: ${message.reason}`;
      this.inbox.failWaiting(this.failure);
      return;
    }
    this.inbox.deliver(message);
  };

  private readonly onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
    this.ended = `the new process (PID ${this.pid}) exited ${signal === null ? `with code ${code}` : `on ${signal}`}`;
    this.inbox.close(this.ended);
  };

  private readonly onError = (error: Error): void => {
    this.ended ??= `the new process could not be started: ${error.message}`;
    this.inbox.close(this.ended);
  };
}

type MessageListener = (message: unknown, handle: unknown) => void;

/**
 * The child's IPC channel, whose 'disconnect' also comes when the child exits: Node does not emit it while a handle
 * sent is waiting for the child's acknowledgement, so a child that dies mid-hand-over would otherwise go unnoticed.
 */
class ChildChannel implements HandoverChannel {
  private readonly disconnectListeners = new Set<() => void>();
  private gone = false;

  constructor(private readonly child: ChildProcess) {
    child.once("disconnect", this.onGone);
    child.once("exit", this.onGone);
  }

  get connected(): boolean {
    return !this.gone && this.child.connected;
  }

  send(
    message: unknown,
    sendHandle?: Socket,
    options?: { keepOpen?: boolean },
    callback?: (error: Error | null) => void,
  ): boolean {
    return this.child.send(message as object, sendHandle, options ?? {}, callback);
  }

  on(event: "message", listener: MessageListener): this;
  on(event: "disconnect", listener: () => void): this;
  on(event: "message" | "disconnect", listener: MessageListener | (() => void)): this {
    if (event === "disconnect") this.disconnectListeners.add(listener as () => void);
    else this.child.on("message", listener as MessageListener);
    return this;
  }

  off(event: "message", listener: MessageListener): this;
  off(event: "disconnect", listener: () => void): this;
  off(event: "message" | "disconnect", listener: MessageListener | (() => void)): this {
    if (event === "disconnect") this.disconnectListeners.delete(listener as () => void);
    else this.child.off("message", listener as MessageListener);
    return this;
  }

  private readonly onGone = (): void => {
    if (this.gone) return;
    this.gone = true;
    for (const listener of [...this.disconnectListeners]) listener();
  };
}
