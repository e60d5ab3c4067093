// In-memory connections for driving the relay without sockets: two node:stream Duplex ends joined back to back.
// What one end writes comes out of the other a turn of the event loop later (as on a socket, never inside the
// write); an end can stop reading (its writer's buffer then fills and needs a drain), end (FIN), or reset.
import { Duplex } from "node:stream";
import { Opcode } from "../../src/websocket/protocol.js";
import { WebSocketRelay, type RelayOptions, type RelayOutcome } from "../../src/websocket/relay.js";
import type { RelaySnapshot } from "../../src/websocket/relay-snapshot.js";
import { withTimeout } from "../helpers/net.js";
import { closePayload, encodeFrame, parseFrames, type ParsedFrame } from "../fuzz/wire.js";

/** One end of an in-memory connection. */
export class MemoryEnd extends Duplex {
  partner!: MemoryEnd;
  /** This end does not read: what its partner writes waits (as in a full TCP window). */
  private stalled = false;
  private readonly waiting: Array<() => void> = [];
  /** Destroying this end resets the connection: the partner gets an error, not just a close. */
  resetOnDestroy = false;

  constructor(highWaterMark: number) {
    super({ allowHalfOpen: true, highWaterMark });
  }

  static pair(highWaterMark = 16 * 1024): [MemoryEnd, MemoryEnd] {
    const a = new MemoryEnd(highWaterMark);
    const b = new MemoryEnd(highWaterMark);
    a.partner = b;
    b.partner = a;
    return [a, b];
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const partner = this.partner;
    const deliver = (): void => {
      if (!partner.destroyed) partner.push(chunk);
      callback();
    };
    if (partner.stalled) partner.waiting.push(deliver);
    else setImmediate(deliver);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const partner = this.partner;
    const deliver = (): void => {
      if (!partner.destroyed) partner.push(null);
      callback();
    };
    if (partner.stalled) partner.waiting.push(deliver);
    else setImmediate(deliver);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const partner = this.partner;
    const reset = this.resetOnDestroy;
    setImmediate(() => {
      if (partner.destroyed) return;
      if (reset) partner.destroy(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
      else partner.destroy();
    });
    callback(error);
  }

  stopReading(): void {
    this.stalled = true;
  }

  resumeReading(): void {
    this.stalled = false;
    for (const deliver of this.waiting.splice(0)) setImmediate(deliver);
  }
}

const MASK = Buffer.from([0x11, 0x22, 0x33, 0x44]);

/** A peer of the relay, by hand: sends exactly what a test says and records everything it gets. */
export class TestPeer {
  private received: Buffer[] = [];
  private readonly listeners = new Set<() => void>();
  /** The relay ended its side (FIN). */
  sawEnd = false;
  /** The connection is fully closed (ended both ways, cut or reset). */
  isClosed = false;
  readonly closed: Promise<void>;

  constructor(
    readonly end: MemoryEnd,
    /** A client masks its frames. */
    readonly masks: boolean,
    /** Ends its own side when the relay ends its (as a socket without allowHalfOpen). */
    endOnEnd = true,
  ) {
    end.on("data", (chunk: Buffer) => {
      this.received.push(chunk);
      this.notify();
    });
    end.on("end", () => {
      this.sawEnd = true;
      if (endOnEnd) this.end.end();
      this.notify();
    });
    end.on("error", () => {});
    this.closed = new Promise((resolve) =>
      end.on("close", () => {
        this.isClosed = true;
        this.notify();
        resolve();
      }),
    );
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  send(bytes: Buffer): void {
    if (!this.end.destroyed && this.end.writable) this.end.write(bytes);
  }

  /** One frame's bytes, masked when this is the client. */
  frame(opcode: number, payload: Buffer | string, fin = true, rsv = 0): Buffer {
    const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
    return encodeFrame({
      fin,
      rsv,
      opcode,
      payload: bytes,
      mask: this.masks ? MASK : undefined,
      lengthForm: "shortest",
    });
  }

  text(message: string): void {
    this.send(this.frame(Opcode.Text, message));
  }

  close(code: number, reason = ""): void {
    this.send(this.frame(Opcode.Close, closePayload(code, reason)));
  }

  frames(): ParsedFrame[] {
    return parseFrames(Buffer.concat(this.received)).frames;
  }

  /** The data frames' payloads and the close's code, in order (e.g. ["1:hi", "close 1000"]). */
  shape(): string[] {
    return this.frames().map((f) =>
      f.opcode === Opcode.Close
        ? `close ${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005}`
        : `${f.opcode}:${f.payload.toString()}`,
    );
  }

  waitFor<T>(check: () => T | undefined, what: string, ms = 2000): Promise<T> {
    return withTimeout(
      new Promise<T>((resolve) => {
        const listener = (): void => {
          const value = check();
          if (value === undefined) return;
          this.listeners.delete(listener);
          resolve(value);
        };
        this.listeners.add(listener);
        listener();
      }),
      ms,
      what,
    );
  }

  /** The close frame received: its code (1005 for none) and reason. */
  closeFrame(ms = 2000): Promise<{ code: number; reason: string }> {
    return this.waitFor(
      () => {
        const close = this.frames().find((f) => f.opcode === Opcode.Close);
        if (close === undefined) return undefined;
        return {
          code: close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005,
          reason: close.payload.toString("utf8", 2),
        };
      },
      "a close frame",
      ms,
    );
  }

  waitClosed(ms = 2000): Promise<void> {
    return withTimeout(this.closed, ms, "the connection to close");
  }

  /** FIN, without a close frame. */
  finish(): void {
    this.end.end();
  }

  /** A reset: the relay's side gets an error. */
  reset(): void {
    this.end.resetOnDestroy = true;
    this.end.destroy();
  }
}

/** Every timer and limit off; a close handshake may take 200 ms. */
export const QUIET: RelayOptions = {
  clientMaxMessageSize: -1,
  backendMaxMessageSize: -1,
  pingInterval: 0,
  pongTimeout: 0,
  maxInactivity: 0,
  frameTimeout: 0,
  closeTimeout: 200,
  firstFrameRsv: 0,
  anyRsv: false,
  maxBufferedBytes: -1,
};

export interface MemorySession {
  relay: WebSocketRelay;
  client: TestPeer;
  backend: TestPeer;
  /** The relay's ends of both connections. */
  clientEnd: MemoryEnd;
  backendEnd: MemoryEnd;
  /** The outcome, once `onEnd` was called (it must be called once). */
  ended: Promise<RelayOutcome>;
  ends: number;
  startedAt: number;
}

/** A relay on two in-memory connections, started. */
export function memorySession(
  options: Partial<RelayOptions> = {},
  setup: { highWaterMark?: number; from?: RelaySnapshot; clientHead?: Buffer; backendHead?: Buffer } = {},
): MemorySession {
  const [clientEnd, clientFar] = MemoryEnd.pair(setup.highWaterMark);
  const [backendEnd, backendFar] = MemoryEnd.pair(setup.highWaterMark);
  let resolveEnd: (outcome: RelayOutcome) => void = () => {};
  const session: MemorySession = {
    relay: undefined as unknown as WebSocketRelay,
    client: new TestPeer(clientFar, true),
    backend: new TestPeer(backendFar, false),
    clientEnd,
    backendEnd,
    ended: new Promise<RelayOutcome>((resolve) => (resolveEnd = resolve)),
    ends: 0,
    startedAt: Date.now(),
  };
  session.relay = new WebSocketRelay(
    clientEnd,
    backendEnd,
    { ...QUIET, ...options },
    (outcome) => {
      session.ends++;
      resolveEnd(outcome);
    },
    setup.from,
  );
  session.relay.start(setup.clientHead ?? Buffer.alloc(0), setup.backendHead ?? Buffer.alloc(0));
  return session;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
