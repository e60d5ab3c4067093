// Starting and ending a relayed WebSocket session: the records (session registry, pool, metrics, access log) and the
// session's log line. The filter decides the relay's limits; this is the same for every session.
import type { Socket } from "node:net";
import type { AccessEntry } from "../observability/access-log.js";
import type { Logger } from "../observability/logger.js";
import type { LiveSession, SessionOrigin, SessionRegistry } from "../observability/sessions.js";
import { sessionEnded, sessionHandedOver, type SessionTrace } from "../observability/traffic-events.js";
import { endpointText } from "../util/net/ip-address.js";
import type { PoolSpec, ServerPool } from "../upstream/pool.js";
import { describeServer, type UpstreamServer } from "../upstream/server.js";
import {
  WebSocketRelay,
  type PeerTotals,
  type RelayEndHandler,
  type RelayOptions,
  type RelayOutcome,
  type RelaySnapshot,
  type RelayStream,
} from "../websocket/relay.js";
import { tuneSocketForRelay } from "../websocket/relay-socket.js";

/** The handshake a session comes from, as its records need it (no request or pipeline object is kept). */
export interface SessionHandshake {
  /** The client's upgraded connection (or its HTTP/2 stream), and the bytes it sent after its request. */
  client: RelayStream;
  /** The client's TCP or TLS connection: the same as `client` on HTTP/1.1, the stream's connection on HTTP/2. */
  connection: Socket;
  clientHead: Buffer;
  /** The HTTPServer, the route (as status views show it) and the pipeline. */
  server: string;
  route: string;
  pipeline: string;
  /** The request target, as the session's log line shows it: secret query parameters already redacted. */
  path: string;
  clientIp: string;
  /** The subprotocol the backend chose, if any. */
  protocol: string | undefined;
  /** `h2`: the client's WebSocket is a stream of an HTTP/2 connection. */
  transport: "h1" | "h2";
  /** Counts the accepted handshake (metrics, access log); its trace completes the access-log line at the end. */
  accepted(session: LiveSession): SessionTrace;
}

export interface SessionStart {
  handshake: SessionHandshake;
  pool: ServerPool<PoolSpec>;
  server: UpstreamServer;
  /** The backend's upgraded connection, and the bytes it sent after its 101. */
  backend: Socket;
  backendHead: Buffer;
  /** The relay's limits, timeouts and rate gates: the filter's decisions. */
  relay: RelayOptions;
  origin: SessionOrigin;
  sessions: SessionRegistry;
  log: Logger;
  /**
   * What the session holds until it ends (a connection limit's place), released once when it ends, before its records
   * are removed. An object with a method, not a callback: a closure made where the session starts would keep that
   * scope (request, headers) alive for the session's whole life.
   */
  hold: { release(): void };
  /** A session moved in from another process (handover-receive.ts): its id, start, address and relay state. */
  resumed?: ResumedSession;
}

export interface ResumedSession {
  id: number;
  /** The client's TCP peer as the first process saw it. */
  client: string;
  startedAt: number;
  snapshot: RelaySnapshot;
}

/** Records the session everywhere it is counted and starts its relay; the end undoes each record and logs the line. */
export function startWebSocketSession(start: SessionStart): void {
  const { handshake, sessions } = start;
  const session = new RelayedSession(start, start.resumed?.id ?? sessions.newId());
  sessions.add(session);
  start.pool.sessionOpened(start.server, session);
  session.trace = handshake.accepted(session);
  // The client's connection carries other streams on HTTP/2: its no-delay suits them too, and it has no timeout.
  tuneSocketForRelay(handshake.connection);
  tuneSocketForRelay(start.backend);
  session.relay.start(handshake.clientHead, start.backendHead);
}

/**
 * What every session of one origin (a filter's route to one backend) has in common: where it came in, where it goes,
 * the records that count it and the log it ends in. One per origin object, held by each of its sessions (eight fields
 * of every idle session before), and its usual request target: a session asking for the same one shares its text.
 */
class SessionPlace {
  readonly backend: string;

  constructor(
    readonly server: string,
    readonly route: string,
    readonly pipeline: string,
    readonly pool: ServerPool<PoolSpec>,
    readonly upstream: UpstreamServer,
    readonly sessions: SessionRegistry,
    readonly log: Logger,
    /** The first session's request target. */
    readonly usualPath: string,
  ) {
    this.backend = describeServer(upstream);
  }

  /** Whether a session starting from `start` has all of this in common (an origin is one filter's, one backend's). */
  fits(start: SessionStart): boolean {
    const handshake = start.handshake;
    return (
      this.server === handshake.server &&
      this.route === handshake.route &&
      this.pipeline === handshake.pipeline &&
      this.pool === start.pool &&
      this.upstream === start.server &&
      this.sessions === start.sessions &&
      this.log === start.log
    );
  }
}

/** By origin: origins are made once per filter, route and backend (session-parts.ts), and forgotten with them. */
const places = new WeakMap<SessionOrigin, SessionPlace>();

function placeOf(start: SessionStart): SessionPlace {
  const known = places.get(start.origin);
  if (known !== undefined && known.fits(start)) return known;
  const { handshake } = start;
  const place = new SessionPlace(
    handshake.server,
    handshake.route,
    handshake.pipeline,
    start.pool,
    start.server,
    start.sessions,
    start.log,
    handshake.path,
  );
  places.set(start.origin, place);
  return place;
}

/**
 * A live session's record, its relay and what its end undoes. A class, not an object literal with closures: an
 * idle session is mostly its records, and a literal with a getter and three closures (over the scope of the
 * session's start) took about 1.3 KiB of heap per session (the getter made V8 keep it in dictionary mode), this
 * about 0.2 KiB. It keeps the handshake's fields it needs, not the handshake (request, head, logger), and what it
 * shares with the other sessions of its origin in a SessionPlace; its start time is its relay's.
 */
class RelayedSession implements LiveSession, RelayEndHandler {
  readonly id: number;
  readonly clientIp: string;
  readonly protocol: string | undefined;
  readonly transport: "h1" | "h2";
  readonly origin: SessionOrigin;
  readonly relay: WebSocketRelay;
  /** Set right after the session is recorded (the access log's entry, the metrics it is counted in). */
  trace: SessionTrace | undefined = undefined;
  readonly #place: SessionPlace;
  readonly #path: string;
  /**
   * The client's TCP peer: the connection's own address string and port, made into `address:port` text only when
   * read (status views, a hand-over); a text per session was 88 B of it. A moved session's text as it came: port null.
   */
  readonly #peerAddress: string | undefined;
  readonly #peerPort: number | undefined | null;
  readonly #hold: { release(): void };

  constructor(start: SessionStart, id: number) {
    const handshake = start.handshake;
    const place = placeOf(start);
    this.id = id;
    const resumed = start.resumed;
    if (resumed === undefined) {
      this.#peerAddress = handshake.connection.remoteAddress;
      this.#peerPort = handshake.connection.remotePort;
    } else {
      this.#peerAddress = resumed.client;
      this.#peerPort = null;
    }
    this.clientIp = handshake.clientIp;
    this.protocol = handshake.protocol;
    this.transport = handshake.transport;
    this.origin = start.origin;
    this.#place = place;
    this.#path = handshake.path === place.usualPath ? place.usualPath : handshake.path;
    this.#hold = start.hold;
    this.relay = new WebSocketRelay(handshake.client, start.backend, start.relay, this, resumed?.snapshot);
  }

  get server(): string {
    return this.#place.server;
  }

  get route(): string {
    return this.#place.route;
  }

  get pipeline(): string {
    return this.#place.pipeline;
  }

  get backend(): string {
    return this.#place.backend;
  }

  /** When the relay started (a moved session's: when it first started), ms since epoch. */
  get startedAt(): number {
    return this.relay.startedAt;
  }

  get path(): string {
    return this.#path;
  }

  get client(): string {
    const port = this.#peerPort;
    return port === null ? (this.#peerAddress as string) : endpointText(this.#peerAddress, port);
  }

  get deadline(): number | undefined {
    return this.relay.deadlineAt;
  }

  accessEntry(): Readonly<AccessEntry> | undefined {
    const trace = this.trace;
    return trace !== undefined && "accessLog" in trace ? trace.entry : undefined;
  }

  totals(): { fromClient: PeerTotals; fromBackend: PeerTotals } {
    return this.relay.totals();
  }

  close(code: number, reason: string): void {
    this.relay.close(code, reason);
  }

  terminate(): void {
    this.relay.terminate();
  }

  relayEnded(outcome: RelayOutcome): void {
    const place = this.#place;
    this.#hold.release();
    place.pool.sessionClosed(place.upstream, this);
    place.sessions.delete(this);
    const log = place.log;
    if (outcome.handedOver === true) {
      if (this.trace !== undefined) sessionHandedOver(this.trace, this, outcome);
      log.info(
        { event: "websocket_session_moved", session: this.id, server: this.server },
        "websocket session handed over",
      );
      return;
    }
    if (this.trace !== undefined) sessionEnded(this.trace, this, outcome);
    // The line's fields are gathered only when it is written (not at the bench's and many deployments' warn).
    if (!log.isLevelEnabled("info")) return;
    log.info(
      {
        event: "websocket_session",
        session: this.id,
        server: this.server,
        path: this.#path,
        backend: this.backend,
        client: this.client,
        clientIp: this.clientIp,
        durationMs: outcome.durationMs,
        clientMessages: outcome.fromClient.messages,
        clientBytes: outcome.fromClient.bytes,
        backendMessages: outcome.fromBackend.messages,
        backendBytes: outcome.fromBackend.bytes,
        clientLargestMessage: outcome.fromClient.largest,
        backendLargestMessage: outcome.fromBackend.largest,
        closeCode: outcome.closeCode,
        closeReason: outcome.closeReason,
        closedBy: outcome.closedBy,
      },
      "websocket session ended",
    );
  }
}
