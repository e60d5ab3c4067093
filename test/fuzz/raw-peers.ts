// WebSocket peers by hand on raw TCP, for both ends of the gateway: they do the handshake and then send exactly
// the bytes a test gives them, cut where the test says, and record every byte they get back.
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { HANDSHAKE_GUID, Opcode } from "../../src/websocket/protocol.js";
import { withTimeout } from "../helpers/net.js";
import { encodeFrame, parseFrames, type ParsedFrame } from "./wire.js";

/** One end of a WebSocket connection after its handshake. */
export class RawPeer {
  private chunks: Buffer[];
  /** Bytes received so far. */
  receivedLength: number;
  private readonly listeners = new Set<() => void>();
  /** The other end sent FIN. */
  sawEnd = false;
  /** The TCP connection is fully closed. */
  isClosed = false;
  /** The connection was reset (ECONNRESET and the like) rather than ended. */
  sawError = false;
  readonly closed: Promise<void>;

  constructor(
    readonly socket: net.Socket,
    initial: Buffer,
    /** The request head that opened it (for a backend's end), else "". */
    readonly requestHead = "",
  ) {
    this.chunks = [initial];
    this.receivedLength = initial.length;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.receivedLength += chunk.length;
      this.notify();
    });
    socket.on("end", () => {
      this.sawEnd = true;
      this.notify();
    });
    socket.on("error", () => (this.sawError = true));
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.isClosed = true;
        this.notify();
        resolve();
      }),
    );
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Every byte received so far. */
  get bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Complete frames received so far. */
  frames(): ParsedFrame[] {
    return parseFrames(this.bytes).frames;
  }

  /** Waits (at most `ms`) until `check` returns a value. */
  waitFor<T>(check: () => T | undefined, ms: number, what: string): Promise<T> {
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
    ).catch((error: unknown) => {
      this.listeners.clear();
      throw error;
    });
  }

  /** Waits for the first frame that passes `test`. */
  waitForFrame(test: (frame: ParsedFrame) => boolean, ms = 5000, what = "a frame"): Promise<ParsedFrame> {
    return this.waitFor(() => this.frames().find(test), ms, what);
  }

  /** Waits until the TCP connection is closed. */
  waitClosed(ms = 5000, what = "the connection to close"): Promise<void> {
    return withTimeout(this.closed, ms, what);
  }

  /** Writes the pieces one by one, yielding between them so that they tend to travel as separate segments. */
  async sendPieces(pieces: readonly Buffer[]): Promise<void> {
    for (const piece of pieces) {
      if (this.socket.destroyed || !this.socket.writable) return;
      const flushed = this.socket.write(piece);
      if (!flushed) {
        await withTimeout(
          new Promise<void>((resolve) => {
            this.socket.once("drain", resolve);
            this.socket.once("close", resolve);
          }),
          5000,
          "the socket to drain",
        );
      } else {
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  send(bytes: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  /** Answers every ping with a pong, as a live peer does; `mask` for a client's end. */
  answerPings(mask: Buffer | undefined): void {
    let answered = 0;
    const answer = (): void => {
      const pings = this.frames().filter((frame) => frame.opcode === Opcode.Ping);
      for (const ping of pings.slice(answered)) {
        this.send(
          encodeFrame({ fin: true, rsv: 0, opcode: Opcode.Pong, payload: ping.payload, mask, lengthForm: "shortest" }),
        );
      }
      answered = pings.length;
    };
    this.socket.on("data", answer);
    answer();
  }
}

/** The request target (path and query) of the upgrade that opened a backend's peer. */
function requestTarget(peer: RawPeer): string {
  return peer.requestHead.split(" ", 2)[1] ?? "";
}

export function acceptKey(key: string): string {
  return createHash("sha1")
    .update(key + HANDSHAKE_GUID)
    .digest("base64");
}

/** Header value of a raw request head (first match, case-insensitive). */
export function headerOf(head: string, name: string): string | undefined {
  const match = new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, "i").exec(head);
  return match?.[1]?.trim();
}

/** What a raw backend does once an upgrade request's head has arrived. */
export type UpgradeHandler = (socket: net.Socket, head: string, rest: Buffer) => void;

/**
 * Answers with a correct 101, accepting permessage-deflate when offered, and hands over a peer. `extraLines`: more
 * header lines (each ending in CRLF), as raw bytes.
 */
export function answer101(socket: net.Socket, head: string, extraLines: Buffer = Buffer.alloc(0)): void {
  const key = headerOf(head, "Sec-WebSocket-Key") ?? "";
  const offered = headerOf(head, "Sec-WebSocket-Extensions") ?? "";
  const lines =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
    (offered.includes("permessage-deflate") ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "");
  socket.write(Buffer.concat([Buffer.from(lines, "latin1"), extraLines, Buffer.from("\r\n", "latin1")]));
}

/** A backend on raw TCP: it completes handshakes (or does what `onUpgrade` says) and queues the peers. */
export class RawBackend {
  /** Every accepted TCP connection, open or closed. */
  readonly sockets: net.Socket[] = [];
  private readonly peers: RawPeer[] = [];
  private waiting: Array<{ target: string | undefined; take: (peer: RawPeer) => void }> = [];

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Connections open right now. */
  get openConnections(): number {
    return this.sockets.filter((socket) => !socket.destroyed).length;
  }

  static start(onUpgrade?: UpgradeHandler): Promise<RawBackend> {
    let backend: RawBackend | undefined;
    const server = net.createServer((socket) => {
      backend?.sockets.push(socket);
      socket.on("error", () => socket.destroy());
      let buffered = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.off("data", onData);
        const head = buffered.subarray(0, end).toString("latin1");
        const rest = buffered.subarray(end + 4);
        if (onUpgrade !== undefined) {
          onUpgrade(socket, head, rest);
          return;
        }
        answer101(socket, head);
        backend?.hand(new RawPeer(socket, rest, head));
      };
      socket.on("data", onData);
    });
    return new Promise((resolve) => {
      server.listen(0, "127.0.0.1", () => {
        backend = new RawBackend(server, (server.address() as net.AddressInfo).port);
        resolve(backend);
      });
    });
  }

  /** Gives a peer to the oldest waiter that wants it, or keeps it for a later one. */
  hand(peer: RawPeer): void {
    const index = this.waiting.findIndex((waiter) => requestTarget(peer) === (waiter.target ?? requestTarget(peer)));
    const waiter = index < 0 ? undefined : this.waiting.splice(index, 1)[0];
    if (waiter !== undefined) waiter.take(peer);
    else this.peers.push(peer);
  }

  /**
   * The next connection that completed its handshake; with `target`, the one whose request was for it (sessions
   * opened at once reach the backend in any order).
   */
  nextPeer(target?: string, ms = 5000): Promise<RawPeer> {
    const index = this.peers.findIndex((peer) => target === undefined || requestTarget(peer) === target);
    const ready = index < 0 ? undefined : this.peers.splice(index, 1)[0];
    if (ready !== undefined) return Promise.resolve(ready);
    let waiter: { target: string | undefined; take: (peer: RawPeer) => void } | undefined;
    return withTimeout(
      new Promise<RawPeer>((resolve) => {
        waiter = { target, take: resolve };
        this.waiting.push(waiter);
      }),
      ms,
      `the backend to get a connection${target === undefined ? "" : ` for ${target}`}`,
    ).catch((error: unknown) => {
      this.waiting = this.waiting.filter((entry) => entry !== waiter);
      throw error;
    });
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export function upgradeRequest(port: number, path: string, extraHeaders = ""): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`
  );
}

/** Opens a WebSocket through the gateway by hand; resolves once the 101 has arrived. */
export function openRawClient(port: number, path: string, extraHeaders = "", ms = 5000): Promise<RawPeer> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  socket.write(upgradeRequest(port, path, extraHeaders));
  return withTimeout(
    new Promise<RawPeer>((resolve, reject) => {
      let received = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        received = Buffer.concat([received, chunk]);
        const end = received.indexOf("\r\n\r\n");
        if (end < 0) return;
        socket.off("data", onData);
        socket.off("close", onClose);
        const head = received.subarray(0, end).toString("latin1");
        if (!head.startsWith("HTTP/1.1 101")) {
          socket.destroy();
          reject(new Error(`no 101: ${head.split("\r\n")[0] ?? ""}`));
        } else {
          resolve(new RawPeer(socket, received.subarray(end + 4)));
        }
      };
      const onClose = (): void => reject(new Error("closed before the 101"));
      socket.on("data", onData);
      socket.on("close", onClose);
    }),
    ms,
    "the 101",
  ).catch((error: unknown) => {
    socket.destroy();
    throw error;
  });
}
