// The accept phase of a plain (non-TLS) listener: a connection whose first bytes are a simple WebSocket upgrade
// (upgrade-head.ts) is answered without Node's HTTP server (no HTTP parser, connection tracking, ServerResponse
// machinery or 'upgrade' dispatch per handshake); every other connection is given to the HTTP server with its bytes
// put back, unread as far as it can tell, so plain HTTP, keep-alive and every malformed head keep Node's parser and
// the answers they always had.
import { ignoreStreamError as ignoreSocketError } from "../util/net/ignore-error.js";
import { IncomingMessage, maxHeaderSize, type Server as HttpServer } from "node:http";
import type { Socket } from "node:net";
import { LinkedSet } from "../util/linked-set.js";
import { simpleUpgradeHead } from "./upgrade-head.js";

export interface UpgradeFrontOptions {
  /** The HTTP server that serves every connection not taken here. */
  server: HttpServer;
  /**
   * Gives it a connection not taken here; by default its 'connection' event. A TLS listener's sockets come from
   * 'secureConnection' and go to Node's HTTP/1.1 listener of that event instead (a 'connection' would be wrapped in
   * TLS a second time).
   */
  handOver?: ((socket: Socket) => void) | undefined;
  /** Serves an upgrade read here, as the HTTP server's 'upgrade' event would have. */
  upgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => void;
  /** `h2c`: takes a connection whose first bytes are HTTP/2's (true), or leaves it here (false). */
  h2?: ((socket: Socket, chunk: Buffer) => boolean) | undefined;
  /** A connection that sent nothing within the header timeout: answered as Node answers one (408). */
  timedOut: (error: NodeJS.ErrnoException, socket: Socket) => void;
  /** `clientHeaderTimeout` (ms); read on each check, so a reload applies. */
  headerTimeout: () => number;
  /** How often silent connections are checked (ms), as Node's `connectionsCheckingInterval`. */
  checkEvery: number;
}

/** Node's own code for a request head that took too long, so the gateway's clientError answer is the same. */
const TIMEOUT_CODE = "ERR_HTTP_REQUEST_TIMEOUT";

/** A connection that has not sent its first bytes yet. */
class WaitingConnection {
  constructor(
    readonly front: UpgradeFront,
    readonly socket: Socket,
    readonly acceptedAt: number,
  ) {}
}

/**
 * Connections waiting for their first bytes, each with its accept time; one interval checks them all (no timer per
 * connection), started with the first connection and stopped when the listener closes.
 *
 * They wait in a LinkedSet, not a Map keyed by socket: a long-lived Map that gains and loses a member per connection
 * replaces its table every few connections, and each replaced table (kept, for iterators, with its members and a link
 * to the next table) that reached the old generation kept the sockets of every later table alive through scavenges.
 * Measured on the handshake bench (fixed 16 MB young generation): 1.5 KB promoted per cycle with the Map, 46 B without.
 */
export class UpgradeFront {
  private readonly waiting = new LinkedSet<WaitingConnection>();
  private checker: NodeJS.Timeout | undefined;

  constructor(private readonly options: UpgradeFrontOptions) {}

  /** A new connection (from the listener, or from the PROXY protocol front with its header taken off). */
  readonly accept = (socket: Socket): void => {
    socket.on("error", ignoreSocketError);
    socket.on("data", onFirstData);
    socket.on("close", onCloseWaiting);
    // The PROXY protocol front hands its sockets over paused, the bytes after its header put back.
    if (socket.readableFlowing === false) socket.resume();
    const waiting = new WaitingConnection(this, socket, Date.now());
    fronts.set(socket, waiting);
    this.waiting.add(waiting);
    this.checker ??= setInterval(this.check, this.options.checkEvery).unref();
  };

  /** Ends the connections that have not sent their first bytes yet (the listener is closing). */
  destroyWaiting(): void {
    for (const { socket } of this.waiting) socket.destroy();
    this.stopWaiting();
  }

  /** The first bytes of `socket`: an upgrade served here, or the connection given to the HTTP server. */
  read(socket: Socket, chunk: Buffer): void {
    this.release(socket);
    if (this.options.h2?.(socket, chunk) === true) return;
    const head = simpleUpgradeHead(chunk, maxHeaderSize >>> 1);
    if (head === undefined) {
      this.handOver(socket, chunk);
      return;
    }
    // As Node leaves an upgraded socket: paused in no mode, so that the first 'data' listener starts the flow.
    socket.pause();
    (socket as unknown as WritableFlowing).readableFlowing = null;
    const req = new IncomingMessage(socket);
    req.method = "GET";
    req.url = head.url;
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    req.httpVersion = "1.1";
    const parsed = req as unknown as ParsedMessage;
    parsed.upgrade = true;
    // What Node's parser calls: rawHeaders, with the `headers` object built from them when first read.
    parsed._addHeaderLines(head.rawHeaders, head.rawHeaders.length);
    this.options.upgrade(req, socket, chunk.subarray(head.length));
  }

  /** The HTTP server takes the connection, with `chunk` unread, as the PROXY protocol front hands one over. */
  private handOver(socket: Socket, chunk: Buffer | undefined): void {
    socket.pause();
    if (chunk !== undefined) socket.unshift(chunk);
    socket.off("error", ignoreSocketError);
    if (this.options.handOver === undefined) this.options.server.emit("connection", socket);
    else this.options.handOver(socket);
    // Node's HTTP server reads the handle directly from now on: the bytes put back flow to its parser first.
    socket.resume();
  }

  private release(socket: Socket): void {
    socket.off("data", onFirstData);
    socket.off("close", onCloseWaiting);
    const waiting = fronts.get(socket);
    if (waiting === undefined) return;
    fronts.delete(socket);
    this.waiting.delete(waiting);
  }

  private stopWaiting(): void {
    for (const waiting of this.waiting) this.waiting.delete(waiting);
    if (this.checker !== undefined) clearInterval(this.checker);
    this.checker = undefined;
  }

  private readonly check = (): void => {
    const due = Date.now() - this.options.headerTimeout();
    for (const { socket, acceptedAt } of this.waiting) {
      if (acceptedAt > due) continue;
      this.release(socket);
      const error: NodeJS.ErrnoException = new Error("request head took too long");
      error.code = TIMEOUT_CODE;
      this.options.timedOut(error, socket);
    }
  };

  /** A connection closed before sending anything. */
  forget(socket: Socket): void {
    this.release(socket);
  }
}

/** Each waiting socket's entry (and through it its front), so that its handlers are shared functions, not closures. */
const fronts = new WeakMap<Socket, WaitingConnection>();

function onFirstData(this: Socket, chunk: Buffer): void {
  fronts.get(this)?.front.read(this, chunk);
}

function onCloseWaiting(this: Socket): void {
  fronts.get(this)?.front.forget(this);
}

/** What Node's parser sets on a message beyond the typed fields (undocumented, the same since Node 15). */
interface ParsedMessage {
  upgrade: boolean;
  _addHeaderLines(headers: string[], count: number): void;
}

/** Readable's `readableFlowing` has a setter (Node's HTTP server uses it on upgrades); the types say read-only. */
interface WritableFlowing {
  readableFlowing: boolean | null;
}
