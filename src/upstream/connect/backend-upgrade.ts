// The backend upgrade: the one way wsgate opens a WebSocket to a backend, for sessions and health checks alike.
import { ignoreStreamError } from "../../util/net/ignore-error.js";
import http, { type ClientRequest, type IncomingMessage } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import {
  GatewayError,
  UpstreamDialTimeoutError,
  UpstreamHandshakeError,
  UpstreamHandshakeTimeoutError,
} from "../../errors.js";
import {
  acceptKeyFor,
  checkBackendUpgrade,
  type ClientUpgrade,
  type NegotiatedSession,
} from "../../websocket/handshake.js";
import { parseUpgradeHead, upgradeRequestHead, type UpgradeResponse } from "../../websocket/upgrade-response.js";
import { dial, hostOf, isSecureUrl, portOf, type DialTlsOptions } from "./dial.js";
import { DialStage } from "./failure.js";

export interface BackendHandshakeRequest {
  /** The backend: ws:// or wss:// (http:// and https:// are taken as the same). */
  url: URL;
  /** `host:port`, for messages. */
  label: string;
  /** Request target: path and query. */
  target: string;
  /** Every header to send, in order, `Host` included. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /**
   * The request head already written out, when the caller has it (what `upgradeRequestHead` would write for
   * `target` and `headers`): `headers` is then read only for an answer Node's client must parse.
   */
  head?: string | undefined;
  dialTimeout: number;
  handshakeTimeout: number;
  /** For wss:// backends: CA, SNI, client certificate (see upstream/tls-options.ts). The system CAs otherwise. */
  tls?: DialTlsOptions | undefined;
  /** A PROXY protocol header (the pool's `sendProxyProtocol`): the connection's first bytes, before TLS too. */
  proxyHeader?: Buffer | undefined;
}

export type BackendHandshakeResult =
  | { kind: "upgraded"; response: UpgradeResponse; socket: Socket; head: Buffer }
  /** The backend answered with something other than 101; the answer is the client's to see. */
  | { kind: "answered"; response: IncomingMessage };

export interface BackendHandshake<Result = BackendHandshakeResult> {
  readonly result: Promise<Result>;
  /** Gives up (the client left): the backend connection is destroyed. */
  abort(): void;
}

/** What the backend was offered: the key whose accept its 101 must carry, the subprotocols and extensions. */
export interface UpgradeOffer {
  key: string;
  /** `acceptKeyFor(key)`, when the caller has it already (a session: the same value as the client's). */
  accept?: string | undefined;
  offered: ClientUpgrade;
}

export type BackendUpgradeResult =
  /** A 101 that passed the checks of RFC 6455 §4.1: the session the backend agreed to. */
  | { kind: "upgraded"; response: UpgradeResponse; socket: Socket; head: Buffer; negotiated: NegotiatedSession }
  /** The backend answered with something other than 101; the answer is the client's to see. */
  | { kind: "answered"; response: IncomingMessage };

/**
 * The backend upgrade as sessions and health checks use it: the handshake, then its 101 checked against the offer.
 * A 101 that fails the check is an UpstreamHandshakeError (not retried) and its connection is closed, so that a
 * health check refuses exactly the backends every session would.
 */
export function connectBackendUpgrade(
  request: BackendHandshakeRequest,
  offer: UpgradeOffer,
): BackendHandshake<BackendUpgradeResult> {
  const accept = offer.accept ?? acceptKeyFor(offer.key);
  // Judged when the answer is read, not in a `then` of its own: one promise and one tick fewer per session.
  return openHandshake(request, (answer): BackendUpgradeResult | GatewayError => {
    if (answer.kind === "answered") return answer;
    const negotiated = checkBackendUpgrade(answer.response, accept, offer.offered);
    if (typeof negotiated === "string") {
      answer.socket.destroy();
      return new UpstreamHandshakeError(request.label, negotiated);
    }
    return { kind: "upgraded", response: answer.response, socket: answer.socket, head: answer.head, negotiated };
  });
}

/**
 * Opens a TCP (or TLS) connection to a backend and sends the upgrade request; settles once it answers.
 *
 * The request is written on the socket directly and a plain 101 is read by `parseUpgradeHead`: Node's HTTP client
 * (an Agent, a ClientRequest, an HTTP parser and an IncomingMessage per handshake) costs more than the rest of a
 * session's start. Every other answer is handed, as received, to Node's HTTP client (`NodeParserReplay`), so that
 * non-101 answers are relayed, and odd ones fail, exactly as before; a request head that Node would check or add to
 * goes through Node's client from the start.
 */
export function openBackendHandshake(request: BackendHandshakeRequest): BackendHandshake {
  return openHandshake(request, (answer) => answer);
}

/** The handshake, its answer judged by `judge` (a GatewayError returned fails the attempt) as it settles. */
function openHandshake<Result>(
  request: BackendHandshakeRequest,
  judge: (answer: BackendHandshakeResult) => Result | GatewayError,
): BackendHandshake<Result> {
  const secure = isSecureUrl(request.url);
  const head = request.head ?? upgradeRequestHead(request.target, request.headers);
  if (head === undefined) return openThroughNodeClient(request, secure, judge);
  const attempt = new HandshakeAttempt(request, secure, judge);
  const socket = dial(request);
  attempt.destroyOnFailure = socket;
  attempt.headOnConnect = head;
  const result = new Promise<Result>((resolve, reject) => {
    attempt.begin(resolve, reject, socket);
    let received: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      received = received === undefined ? chunk : Buffer.concat([received, chunk]);
      const verdict = parseUpgradeHead(received);
      if (verdict.kind === "incomplete") return;
      stopReading();
      if (verdict.kind === "other") {
        attempt.replay(socket, request, received, false);
        return;
      }
      socket.pause();
      attempt.succeed({
        kind: "upgraded",
        response: verdict.response,
        socket,
        head: received.subarray(verdict.headLength),
      });
    };
    // The backend ended before a 101: Node's client says how ("socket hang up", or the parser's error).
    const onEnd = (): void => {
      stopReading();
      attempt.replay(socket, request, received ?? EMPTY, true);
    };
    const stopReading = (): void => {
      socket.off("data", onData);
      socket.off("end", onEnd);
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
  });
  return { result, abort: () => attempt.abort() };
}

const EMPTY = Buffer.alloc(0);

/**
 * One backend handshake's timer and outcome: the dial timeout until the connection is up (TLS included), then the
 * handshake timeout; socket failures mapped to the gateway's errors by when they happen.
 *
 * One timer serves both deadlines: when the connection is up, the handshake's deadline is noted and the dial timer,
 * due sooner with the defaults (5 s, 10 s), is kept; if it fires first it waits out the rest. A handshake answered
 * in time (nearly every one) so costs one Timeout and one callback, not two of each.
 */
class HandshakeAttempt<Result> {
  /** How far the connection got: what a socket error means. */
  private readonly stage: DialStage;
  private settled = false;
  private timer: NodeJS.Timeout | undefined;
  /** When the handshake times out (Date.now() ms), once the connection is up. */
  private handshakeDue: number | undefined;
  private resolve: ((value: Result) => void) | undefined;
  private reject: ((error: GatewayError) => void) | undefined;
  /** Destroyed when the attempt fails or is aborted. */
  destroyOnFailure: { destroy(): void } | undefined;
  /** Node's client, once it reads the answer. */
  private clientRequest: ClientRequest | undefined;
  /**
   * The request head, written once the connection is usable rather than while it connects: a write on a
   * connecting socket costs Node two `once` listeners ('connect', 'close') and their closures per dial.
   */
  headOnConnect: string | undefined;

  constructor(
    private readonly request: BackendHandshakeRequest,
    secure: boolean,
    /** What the caller makes of an answer; a GatewayError fails the attempt. */
    private readonly judge: (answer: BackendHandshakeResult) => Result | GatewayError,
  ) {
    this.stage = new DialStage(request.label, secure);
  }

  /** Starts the dial timeout and watches `socket`'s connection and errors. */
  begin(resolve: (value: Result) => void, reject: (error: GatewayError) => void, socket: Socket | undefined): void {
    this.resolve = resolve;
    this.reject = reject;
    this.timer = setTimeout(this.onTimer, this.request.dialTimeout);
    if (socket === undefined) return;
    this.watch(socket);
    this.socket = socket;
    socket.on("error", this.onSocketError);
  }

  /** The socket `begin` watches, until the handshake settles. */
  private socket: Socket | undefined;
  private readonly onSocketError = (error: NodeJS.ErrnoException): void => this.fail(this.failureOf(error));

  /** Connection tracking for a socket: TCP connect, TLS handshake, Nagle off; then the handshake timeout. */
  watch(socket: Socket): void {
    this.stage.watch(socket, () => {
      if (this.settled) return;
      const handshakeTimeout = this.request.handshakeTimeout;
      this.handshakeDue = Date.now() + handshakeTimeout;
      // The running dial timer is kept when it is due no later than the handshake (it then waits out the rest).
      if (handshakeTimeout < this.request.dialTimeout) {
        clearTimeout(this.timer);
        this.timer = setTimeout(this.onTimer, handshakeTimeout);
      }
      const head = this.headOnConnect;
      if (head === undefined) return;
      this.headOnConnect = undefined;
      socket.write(head, "latin1");
    });
  }

  /** The dial timeout, or once connected the handshake's, perhaps after waiting out the rest of it. */
  private readonly onTimer = (): void => {
    const due = this.handshakeDue;
    if (due === undefined) {
      this.fail(new UpstreamDialTimeoutError(this.request.label));
      return;
    }
    const left = due - Date.now();
    if (left > 0) {
      this.timer = setTimeout(this.onTimer, left);
      return;
    }
    this.fail(new UpstreamHandshakeTimeoutError(this.request.label));
  };

  /** A socket or request error as the gateway reports it (the one classifier, upstream/connect/failure.ts). */
  failureOf(error: NodeJS.ErrnoException): GatewayError {
    return this.stage.upgradeFailure(error);
  }

  succeed(value: BackendHandshakeResult): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.socket !== undefined) {
      // A listener stays, as Node's client's does (a later error is the relay's, never an unhandled event), but
      // not this attempt: a session does not keep its handshake's request alive.
      this.socket.off("error", this.onSocketError);
      this.socket.on("error", ignoreStreamError);
      this.socket = undefined;
    }
    const judged = this.judge(value);
    if (judged instanceof GatewayError) this.reject?.(judged);
    else this.resolve?.(judged);
  }

  fail(error: GatewayError): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.clientRequest?.destroy();
    this.destroyOnFailure?.destroy();
    this.reject?.(error);
  }

  /** The client left: as Node's client does for a destroyed request, a "socket hang up" unless settled already. */
  abort(): void {
    if (this.settled) {
      this.clientRequest?.destroy();
      this.destroyOnFailure?.destroy();
      return;
    }
    this.fail(this.failureOf(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })));
  }

  /** Runs Node's HTTP client over `socket` (already connected) for an answer that is not a plain 101. */
  replay(socket: Socket, request: BackendHandshakeRequest, received: Buffer, ended: boolean): void {
    if (this.settled) return;
    const replay = new NodeParserReplay(socket, received, ended);
    const req = http.request({
      method: "GET",
      path: request.target,
      headers: flatten(request.headers),
      setHost: false,
      createConnection: () => replay,
    });
    this.clientRequest = req;
    this.listen(req, (response, head) => {
      // Bytes Node's parser had not taken yet come after `head`; the backend socket itself carries on.
      const rest = replay.detach();
      socket.pause();
      return { kind: "upgraded", response, socket, head: rest.length === 0 ? head : Buffer.concat([head, rest]) };
    });
    req.end();
  }

  /** The outcome of a ClientRequest: an upgrade, another answer, or an error. */
  listen(
    req: ClientRequest,
    upgraded: (response: IncomingMessage, head: Buffer, socket: Socket) => BackendHandshakeResult,
  ): void {
    req.on("upgrade", (response: IncomingMessage, socket: Socket, head: Buffer) => {
      if (this.settled) {
        socket.destroy();
        return;
      }
      this.succeed(upgraded(response, head, socket));
    });
    req.on("response", (response: IncomingMessage) => {
      response.pause();
      this.succeed({ kind: "answered", response });
    });
    req.on("error", (error: NodeJS.ErrnoException) => this.fail(this.failureOf(error)));
  }
}

function flatten(headers: ReadonlyArray<readonly [string, string]>): string[] {
  const flat: string[] = [];
  for (const [name, value] of headers) flat.push(name, value);
  return flat;
}

/**
 * The socket Node's HTTP client gets for an answer that `parseUpgradeHead` left to it: it reads what the backend
 * sent so far, then the rest as it arrives, and its writes (the request, already sent) go nowhere. Ending or
 * destroying it ends or destroys the backend socket, until `detach` (after an upgrade) hands that socket back.
 */
class NodeParserReplay extends Duplex {
  private attached = true;

  constructor(
    private readonly socket: Socket,
    received: Buffer,
    ended: boolean,
  ) {
    super();
    if (received.length > 0) this.push(received);
    if (ended) {
      this.push(null);
      return;
    }
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onClose);
    socket.on("error", this.onError);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.push(chunk)) this.socket.pause();
  };
  private readonly onEnd = (): void => {
    this.push(null);
  };
  private readonly onClose = (): void => {
    if (!this.destroyed) this.destroy();
  };
  private readonly onError = (error: Error): void => {
    this.destroy(error);
  };

  override _read(): void {
    if (this.attached) this.socket.resume();
  }

  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.attached) this.socket.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.attached) this.socket.destroy();
    callback(error);
  }

  setNoDelay(): this {
    return this;
  }

  /** Gives the backend socket back (after an upgrade): returns the bytes read from it that nobody took yet. */
  detach(): Buffer {
    this.attached = false;
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("close", this.onClose);
    this.socket.off("error", this.onError);
    const rest: Buffer[] = [];
    for (let chunk = this.read() as Buffer | null; chunk !== null; chunk = this.read() as Buffer | null) {
      rest.push(chunk);
    }
    return rest.length === 0 ? EMPTY : Buffer.concat(rest);
  }
}

/** The upgrade through Node's HTTP client from the start: for request heads that Node checks or adds to. */
function openThroughNodeClient<Result>(
  request: BackendHandshakeRequest,
  secure: boolean,
  judge: (answer: BackendHandshakeResult) => Result | GatewayError,
): BackendHandshake<Result> {
  const options = {
    host: hostOf(request.url),
    port: portOf(request.url),
    method: "GET",
    path: request.target,
    headers: flatten(request.headers),
    setHost: false,
    ...(secure ? request.tls : undefined),
    // An agent would dial its own connection and leave `createConnection` (the PROXY header) unused.
    ...(request.proxyHeader === undefined ? { agent: false as const } : { createConnection: () => dial(request) }),
  };
  const attempt = new HandshakeAttempt(request, secure, judge);
  let clientRequest: ClientRequest | undefined;
  const result = new Promise<Result>((resolve, reject) => {
    const req = (secure ? https : http).request(options);
    clientRequest = req;
    attempt.destroyOnFailure = req;
    attempt.begin(resolve, reject, undefined);
    req.on("socket", (socket: Socket) => attempt.watch(socket));
    attempt.listen(req, (response, head, socket) => {
      socket.pause();
      return { kind: "upgraded", response, socket, head };
    });
    req.end();
  });
  return { result, abort: () => clientRequest?.destroy() };
}
