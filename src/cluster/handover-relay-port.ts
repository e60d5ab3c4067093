// One IPC channel as the session relay uses it (handover-relay-protocol.ts): what it sends goes out one message at a
// time, in order, each socket as a raw handle that nobody reads; what it receives is the relay's envelopes only; and
// it says, once, when the channel is gone.
import type { ChildProcess } from "node:child_process";
import { Socket } from "node:net";
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

/** The raw handle a net.Socket holds, or undefined when it has none (destroyed, or not a TCP/pipe socket). */
export function rawHandleOf(socket: Socket): RawHandle | undefined {
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
 * How often `connected` is looked at. Node emits no 'disconnect' while a handle it sent awaits the other side's
 * acknowledgement and that side died (the queue is never flushed); `connected` does turn false.
 */
const CHANNEL_CHECK_MS = 50;
/** A child whose channel closed is given this long to be seen exiting (it tells whether its sockets closed). */
const EXIT_GRACE_MS = 500;

export class RelayPort {
  private readonly outbox: Outgoing[] = [];
  private writing: Outgoing | undefined;
  private goneWhy: string | undefined;
  private closing = false;
  private readonly watch: NodeJS.Timeout;

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
    this.watch = setInterval(() => {
      if (!end.connected) this.onDisconnect();
    }, CHANNEL_CHECK_MS);
    this.watch.unref();
  }

  get connected(): boolean {
    return this.goneWhy === undefined && !this.closing && this.end.connected;
  }

  /** Queues `envelope` (with `handle`) behind what this port sends already: the other side sees them in order. */
  send(envelope: RelayEnvelope, handle?: RawHandle, options: SendOptions = {}): void {
    const item: Outgoing = { envelope, handle, close: options.close ?? true, done: options.done, settled: false };
    if (this.goneWhy !== undefined || this.closing) {
      this.settle(item, new Error(this.goneWhy ?? "the relay was closed"));
      return;
    }
    this.outbox.push(item);
    this.flush();
  }

  /** Stops listening; what was not written is dropped (its handles closed where this port owns them). */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.detach();
    this.dropAll(new Error("the relay was closed"));
  }

  private flush(): void {
    while (this.writing === undefined && this.goneWhy === undefined && !this.closing) {
      const item = this.outbox.shift();
      if (item === undefined) return;
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
    const pending = this.writing === undefined ? this.outbox : [this.writing, ...this.outbox];
    this.writing = undefined;
    this.outbox.length = 0;
    for (const item of pending) this.settle(item, error);
  }

  private readonly onMessage = (message: unknown, handle: unknown): void => {
    if (!isRelayEnvelope(message)) return;
    const raw = received(handle);
    if (this.goneWhy !== undefined || this.closing) {
      closeRaw(raw);
      return;
    }
    this.events.envelope(this, message, raw);
  };

  private readonly onDisconnect = (): void => {
    if (this.goneWhy !== undefined || this.closing) return;
    const child = this.child;
    if (child === undefined || exitedWhy(child) !== undefined) {
      this.lost(`the ${this.name}'s channel closed`, child !== undefined);
      return;
    }
    // Whether the child exited tells whether its sockets are closed: give its exit a moment to be seen.
    this.goneWhy = `the ${this.name}'s channel closed`;
    this.dropAll(new Error(this.goneWhy));
    const grace = setTimeout(() => this.announce(exitedWhy(child) !== undefined), EXIT_GRACE_MS);
    grace.unref();
    child.once("exit", () => {
      clearTimeout(grace);
      this.announce(true);
    });
  };

  private readonly onExit = (): void => {
    const child = this.child;
    if (child === undefined || this.closing) return;
    if (this.goneWhy === undefined) this.lost(`the ${this.name} ${exitedWhy(child) ?? "exited"}`, true);
  };

  private announced = false;

  private announce(exited: boolean): void {
    if (this.announced || this.closing) return;
    this.announced = true;
    this.detach();
    this.events.gone(this, this.goneWhy ?? `the ${this.name} is gone`, exited);
  }

  private lost(why: string, exited: boolean): void {
    if (this.goneWhy !== undefined || this.closing) return;
    this.goneWhy = why;
    this.dropAll(new Error(why));
    this.announce(exited);
  }

  private detach(): void {
    clearInterval(this.watch);
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
