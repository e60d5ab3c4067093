// A lane as a worker's gateway sees it: a HandoverChannel (proxy/handover-types.ts) for handOverSessions in the old
// worker, and one for takeSessions in the new worker, both over the worker's channel to its primary.
import { Socket, type SocketConstructorOpts } from "node:net";
import type { HandoverChannel } from "../proxy/handover-types.js";
import { isHandoverMessage } from "../proxy/handover-record.js";
import { freezeReads } from "../websocket/socket-freeze.js";
import { RELAY_TAG, type RelayEnvelope } from "./handover-relay-protocol.js";
import { closeRaw, rawHandleOf, type RawHandle, type RelayPort } from "./handover-relay-port.js";

type MessageListener = (message: unknown, handle: unknown) => void;
type Callback = (error: Error | null) => void;

/** Listeners, and the lane's end told to each `disconnect` listener once. */
abstract class LaneChannel implements HandoverChannel {
  protected readonly messageListeners = new Set<MessageListener>();
  private readonly disconnectListeners = new Set<() => void>();
  protected endedWhy: string | undefined;

  constructor(
    readonly lane: number,
    protected readonly port: RelayPort,
  ) {}

  get connected(): boolean {
    return this.endedWhy === undefined && this.port.connected;
  }

  abstract send(message: unknown, sendHandle?: Socket, options?: { keepOpen?: boolean }, callback?: Callback): boolean;

  /** An envelope of this lane from the primary. */
  abstract receive(envelope: RelayEnvelope, handle: RawHandle | undefined): void;

  on(event: "message", listener: MessageListener): this;
  on(event: "disconnect", listener: () => void): this;
  on(event: "message" | "disconnect", listener: MessageListener | (() => void)): this {
    if (event === "message") this.messageListeners.add(listener as MessageListener);
    else if (this.endedWhy !== undefined) process.nextTick(listener as () => void);
    else this.disconnectListeners.add(listener as () => void);
    return this;
  }

  off(event: "message", listener: MessageListener): this;
  off(event: "disconnect", listener: () => void): this;
  off(event: "message" | "disconnect", listener: MessageListener | (() => void)): this {
    if (event === "message") this.messageListeners.delete(listener as MessageListener);
    else this.disconnectListeners.delete(listener as () => void);
    return this;
  }

  /** The lane is over (a hop broke, or it is done): told to `disconnect` listeners, once. */
  end(why: string): void {
    if (this.endedWhy !== undefined) return;
    this.endedWhy = why;
    for (const listener of [...this.disconnectListeners]) listener();
    this.disconnectListeners.clear();
  }

  protected refuse(callback: Callback | undefined): false {
    const error = new Error(this.endedWhy ?? "the channel to the primary is closed");
    if (callback !== undefined) process.nextTick(callback, error);
    return false;
  }
}

/**
 * The old worker's lane: sends each session part with its socket's raw handle (this worker keeps its socket, as
 * `keepOpen` asks), and confirms each answer to the new worker before acting on it.
 */
export class OriginLane extends LaneChannel {
  send(message: unknown, sendHandle?: Socket, _options?: { keepOpen?: boolean }, callback?: Callback): boolean {
    if (!this.connected) return this.refuse(callback);
    const raw = sendHandle === undefined ? undefined : rawHandleOf(sendHandle);
    if (sendHandle !== undefined && raw === undefined) {
      if (callback !== undefined) process.nextTick(callback, new Error("the socket has no handle to send"));
      return false;
    }
    const last = isHandoverMessage(message) && message.kind === "done";
    this.port.send(
      { [RELAY_TAG]: 1, lane: this.lane, kind: "message", message, ...(last ? { last: true } : {}) },
      raw,
      { close: false, ...(callback === undefined ? {} : { done: callback }) },
    );
    if (last) this.endedWhy = "done";
    return true;
  }

  receive(envelope: RelayEnvelope, handle: RawHandle | undefined): void {
    closeRaw(handle);
    if (envelope.kind === "end") {
      this.end(envelope.reason);
      return;
    }
    if (envelope.kind !== "message" || this.endedWhy !== undefined) return;
    if (envelope.seq !== undefined) {
      // Confirmed before it is acted on: the new worker starts a session only once this worker let go of it. A
      // confirm that cannot go out means the answer is not acted on either: the lane is over, the session resumes.
      if (!this.port.connected) {
        this.end("the channel to the primary closed");
        return;
      }
      this.port.send({ [RELAY_TAG]: 1, lane: this.lane, kind: "confirm", seq: envelope.seq });
    }
    for (const listener of [...this.messageListeners]) listener(envelope.message, undefined);
  }
}

/**
 * The new worker's lane: each socket arrives as a raw handle and becomes a net.Socket that does not read; each answer
 * is called sent (its callback) only once the old worker confirms it. Messages that come before anyone listens wait.
 */
export class TakerLane extends LaneChannel {
  private seq = 0;
  private readonly unconfirmed = new Map<number, Callback>();
  private early: Array<[unknown, Socket | undefined]> | undefined = [];

  send(message: unknown, sendHandle?: Socket, _options?: { keepOpen?: boolean }, callback?: Callback): boolean {
    if (!this.connected) return this.refuse(callback);
    const raw = sendHandle === undefined ? undefined : rawHandleOf(sendHandle);
    const seq = ++this.seq;
    if (callback !== undefined) this.unconfirmed.set(seq, callback);
    this.port.send({ [RELAY_TAG]: 1, lane: this.lane, kind: "message", message, seq }, raw, {
      close: false,
      done: (error) => {
        if (error === null || !this.unconfirmed.delete(seq)) return;
        callback?.(error);
      },
    });
    return true;
  }

  override on(event: "message", listener: MessageListener): this;
  override on(event: "disconnect", listener: () => void): this;
  override on(event: "message" | "disconnect", listener: MessageListener | (() => void)): this {
    if (event === "disconnect") return super.on(event, listener as () => void);
    super.on(event, listener as MessageListener);
    const early = this.early;
    this.early = undefined;
    for (const [message, socket] of early ?? []) (listener as MessageListener)(message, socket);
    return this;
  }

  receive(envelope: RelayEnvelope, handle: RawHandle | undefined): void {
    if (envelope.kind === "confirm") {
      const callback = this.unconfirmed.get(envelope.seq);
      this.unconfirmed.delete(envelope.seq);
      callback?.(null);
      return;
    }
    if (envelope.kind === "end") {
      this.settleUnconfirmed(envelope.originGone, envelope.reason);
      this.end(envelope.reason);
      return;
    }
    const socket = handle === undefined ? undefined : stoppedSocket(handle);
    if (this.early !== undefined) this.early.push([envelope.message, socket]);
    else for (const listener of [...this.messageListeners]) listener(envelope.message, socket);
    if (envelope.last === true) {
      this.settleUnconfirmed(false, "the old worker said it was done");
      this.endedWhy ??= "done";
    }
  }

  /** A lane that ended: the answers never confirmed are the old worker's (or, when it exited, this worker's). */
  settleUnconfirmed(originGone: boolean, why: string): void {
    const callbacks = [...this.unconfirmed.values()];
    this.unconfirmed.clear();
    const error = originGone ? null : new Error(`not confirmed by the old worker: ${why}`);
    for (const callback of callbacks) callback(error);
  }
}

/** A raw handle as a net.Socket that reads nothing yet (it starts reading as it is made: stopped in the same tick). */
function stoppedSocket(handle: RawHandle): Socket {
  const socket = new Socket({ handle, readable: true, writable: true } as SocketConstructorOpts);
  freezeReads(socket);
  return socket;
}
