// One IPC channel as the session relay uses it (handover-relay-protocol.ts): what it sends goes out one message at a
// time, in order, each socket as a raw handle that nobody reads; what it receives is the relay's envelopes only; and
// it says, once, when the channel is gone.
import type { ChildProcess } from "node:child_process";
import { Socket, type Server as NetServer } from "node:net";
import { freezeReads } from "../websocket/socket-freeze.js";
import { isRelayEnvelope, type RelayEnvelope } from "./handover-relay-protocol.js";

/**
 * A socket as the kernel knows it, without a net.Socket around it (Node's TCP wrap): sent over IPC it arrives as the
 * same kind of object ('net.Native'), which starts no read. A net.Socket would start reading the moment it arrives.
 */
export interface RawHandle {
  readStart(): number;
  readStop(): number;
  close(callback?: () => void): void;
}

/** One end of a Node IPC channel: `process` in a child, a ChildProcess (a cluster worker's `.process`) in a parent. */
export interface IpcEnd {
  send(message: unknown, sendHandle?: unknown, options?: object, callback?: (error: Error | null) => void): boolean;
  on(event: "message", listener: (message: unknown, handle: unknown) => void): unknown;
  on(event: "disconnect", listener: () => void): unknown;
  off(event: "message", listener: (message: unknown, handle: unknown) => void): unknown;
  off(event: "disconnect", listener: () => void): unknown;
  readonly connected: boolean;
}

/** This process's channel to its parent. */
export function parentEnd(): IpcEnd {
  if (process.send === undefined) throw new Error("this process has no IPC channel to a parent");
  return process as unknown as IpcEnd;
}

export function isRawHandle(value: unknown): value is RawHandle {
  if (typeof value !== "object" || value === null || value instanceof Socket) return false;
  const handle = value as Partial<RawHandle>;
  return typeof handle.readStart === "function" && typeof handle.close === "function";
}

/**
 * The raw handle a net.Socket or a listening net.Server holds, or undefined when it has none (closed, or not TCP or
 * a pipe). Sent over IPC it arrives raw: nobody starts reading or accepting on it.
 */
export function rawHandleOf(socket: Socket | NetServer): RawHandle | undefined {
  const handle = (socket as unknown as { _handle?: unknown })._handle;
  return isRawHandle(handle) ? handle : undefined;
}

/**
 * A received handle as a raw handle. A net.Socket (a sender that did not send raw) is stopped in the tick it came in,
 * before the event loop could read from it, and its handle taken from it.
 */
function received(handle: unknown): RawHandle | undefined {
  if (isRawHandle(handle)) return handle;
  if (!(handle instanceof Socket)) return undefined;
  freezeReads(handle);
  const raw = rawHandleOf(handle);
  (handle as unknown as { _handle: unknown })._handle = null;
  handle.destroy();
  return raw;
}

export function closeRaw(handle: RawHandle | undefined): void {
  try {
    handle?.close();
  } catch {
    // Closed already.
  }
}

export interface PortEvents {
  envelope(port: RelayPort, envelope: RelayEnvelope, handle: RawHandle | undefined): void;
  /** The channel is gone; `exited`: the process at the other end exited (a child only; a parent's is unknown). */
  gone(port: RelayPort, why: string, exited: boolean): void;
}

export interface SendOptions {
  /** Close this process's copy of the handle once it is written (a primary forwarding); default true. */
  close?: boolean;
  /** Called once: written (null), or not and never will be (the channel is gone, or the write failed). */
  done?: (error: Error | null) => void;
}

interface Outgoing {
  envelope: RelayEnvelope;
  handle: RawHandle | undefined;
  close: boolean;
  done: ((error: Error | null) => void) | undefined;
  settled: boolean;
}

/**
 * How often `connected` is looked at while the port is in use. Node emits no 'disconnect' while a handle it sent awaits
 * the other side's acknowledgement and that side died (the queue is never flushed); `connected` does turn false.
 */
const CHANNEL_CHECK_MS = 50;
/** A child whose channel closed is given this long to be seen exiting (it tells whether its sockets closed). */
const EXIT_GRACE_MS = 500;
/** How long a port being closed gets to write what is queued (a `done`, an `end`) before it is dropped. */
const CLOSE_FLUSH_MS = 5000;

/** open → closing (writes what is queued, hears nothing) → closed; or → gone when the channel is. */
type PortState = "open" | "closing" | "closed" | "gone";

export class RelayPort {
  private readonly outbox: Outgoing[] = [];
  private writing: Outgoing | undefined;
  private state: PortState = "open";
  private goneWhy: string | undefined;
  private announced = false;
  private watch: NodeJS.Timeout | undefined;
  private flushBy: NodeJS.Timeout | undefined;

  /** `child`: the end is a ChildProcess, whose exit is watched too. */
  constructor(
    readonly end: IpcEnd,
    readonly name: string,
    private readonly events: PortEvents,
    private readonly child?: ChildProcess,
  ) {
    end.on("message", this.onMessage);
    end.on("disconnect", this.onDisconnect);
    child?.once("exit", this.onExit);
  }

  get connected(): boolean {
    return this.state === "open" && this.end.connected;
  }

  /** Queues `envelope` (with `handle`) behind what this port sends already: the other side sees them in order. */
  send(envelope: RelayEnvelope, handle?: RawHandle, options: SendOptions = {}): void {
    const item: Outgoing = { envelope, handle, close: options.close ?? true, done: options.done, settled: false };
    if (this.state !== "open") {
      this.settle(item, new Error(this.goneWhy ?? "the relay was closed"));
      return;
    }
    this.watchChannel();
    this.outbox.push(item);
    this.flush();
  }

  /**
   * Stops listening at once; what is queued is still written (within CLOSE_FLUSH_MS: a `done` or an `end` the other
   * side waits for), then the port lets go of the channel.
   */
  close(): void {
    if (this.state !== "open") return;
    this.state = "closing";
    this.end.off("message", this.onMessage);
    if (this.writing === undefined && this.outbox.length === 0) {
      this.finishClose();
      return;
    }
    this.flushBy = setTimeout(() => this.finishClose(), CLOSE_FLUSH_MS);
    this.flushBy.unref();
  }

  private finishClose(): void {
    if (this.state !== "closing") return;
    this.state = "closed";
    this.detach();
    this.dropAll(new Error("the relay was closed"));
  }

  /** Polls `connected` from the first use on (a worker's port may sit unused for its whole life). */
  private watchChannel(): void {
    if (this.watch !== undefined) return;
    this.watch = setInterval(() => {
      if (!this.end.connected) this.onDisconnect();
    }, CHANNEL_CHECK_MS);
    this.watch.unref();
  }

  private flush(): void {
    while (this.writing === undefined && (this.state === "open" || this.state === "closing")) {
      const item = this.outbox.shift();
      if (item === undefined) {
        if (this.state === "closing") this.finishClose();
        return;
      }
      this.writing = item;
      try {
        this.end.send(item.envelope, item.handle, {}, (error) => this.written(item, error));
      } catch (error) {
        this.written(item, error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  private written(item: Outgoing, error: Error | null): void {
    if (this.writing === item) this.writing = undefined;
    this.settle(item, error);
    if (error !== null) this.lost(`cannot write to the ${this.name}: ${error.message}`, false);
    else this.flush();
  }

  private settle(item: Outgoing, error: Error | null): void {
    if (item.settled) return;
    item.settled = true;
    // Written: the kernel holds a reference of its own until the other side receives it. Not written: nobody will.
    if (item.close) closeRaw(item.handle);
    item.done?.(error);
  }

  private dropAll(error: Error): void {
    const pending = this.writing === undefined ? this.outbox.splice(0) : [this.writing, ...this.outbox.splice(0)];
    this.writing = undefined;
    for (const item of pending) this.settle(item, error);
  }

  private readonly onMessage = (message: unknown, handle: unknown): void => {
    if (!isRelayEnvelope(message)) return;
    const raw = received(handle);
    if (this.state !== "open") {
      closeRaw(raw);
      return;
    }
    this.watchChannel();
    this.events.envelope(this, message, raw);
  };

  private readonly onDisconnect = (): void => {
    if (this.state === "gone" || this.state === "closed") return;
    const child = this.child;
    if (child === undefined || exitedWhy(child) !== undefined) {
      this.lost(`the ${this.name}'s channel closed`, child !== undefined);
      return;
    }
    // Whether the child exited tells whether its sockets are closed: give its exit a moment to be seen.
    this.markGone(`the ${this.name}'s channel closed`);
    const grace = setTimeout(() => this.announce(exitedWhy(child) !== undefined), EXIT_GRACE_MS);
    grace.unref();
    child.once("exit", () => {
      clearTimeout(grace);
      this.announce(true);
    });
  };

  private readonly onExit = (): void => {
    const child = this.child;
    if (child !== undefined) this.lost(`the ${this.name} ${exitedWhy(child) ?? "exited"}`, true);
  };

  private lost(why: string, exited: boolean): void {
    if (this.state === "gone" || this.state === "closed") return;
    this.markGone(why);
    this.announce(exited);
  }

  private markGone(why: string): void {
    const wasOpen = this.state === "open";
    this.state = "gone";
    this.goneWhy = why;
    this.dropAll(new Error(why));
    // A port being closed was told to stop already: nobody is to hear of its channel.
    if (!wasOpen) {
      this.announced = true;
      this.detach();
    }
  }

  private announce(exited: boolean): void {
    if (this.announced) return;
    this.announced = true;
    this.detach();
    this.events.gone(this, this.goneWhy ?? `the ${this.name} is gone`, exited);
  }

  private detach(): void {
    clearInterval(this.watch);
    clearTimeout(this.flushBy);
    this.end.off("message", this.onMessage);
    this.end.off("disconnect", this.onDisconnect);
    this.child?.off("exit", this.onExit);
  }
}

function exitedWhy(child: ChildProcess): string | undefined {
  if (child.signalCode !== null) return `exited on ${child.signalCode}`;
  if (child.exitCode !== null) return `exited with code ${child.exitCode}`;
  return undefined;
}
