// Starting and ending a relayed WebSocket session: the records (session registry, pool, metrics, access log) and the
// session's log line. The filter decides the relay's limits; this is the same for every session.
import type { Socket } from "node:net";
import type { Logger } from "../observability/logger.js";
import type { LiveSession, SessionOrigin, SessionRegistry } from "../observability/sessions.js";
import { sessionEnded, sessionHandedOver, type SessionTrace } from "../observability/traffic-events.js";
import { endpointText } from "../util/net/ip-address.js";
import type { PoolSpec, ServerPool } from "../upstream/pool.js";
import { describeServer, type UpstreamServer } from "../upstream/server.js";
import { WebSocketRelay, type RelayOptions, type RelayOutcome, type RelaySnapshot } from "../websocket/relay.js";
import { tuneSocketForRelay } from "../websocket/relay-socket.js";

/** The handshake a session comes from, as its records need it (no request or pipeline object is kept). */
export interface SessionHandshake {
  /** The client's upgraded connection, and the bytes it sent after its request. */
  client: Socket;
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
  const { handshake, pool, server, sessions, log, hold } = start;
  const resumed = start.resumed;
  const id = resumed?.id ?? sessions.newId();
  const backendLabel = describeServer(server);
  const clientAddress = resumed?.client ?? endpointText(handshake.client.remoteAddress, handshake.client.remotePort);
  // The closures below outlive the handshake: they keep these fields, not the handshake (request, head, logger).
  const serverName = handshake.server;
  const path = handshake.path;
  const clientIp = handshake.clientIp;
  const session: LiveSession = {
    id,
    server: serverName,
    route: handshake.route,
    pipeline: handshake.pipeline,
    backend: backendLabel,
    client: clientAddress,
    clientIp,
    startedAt: resumed?.startedAt ?? Date.now(),
    protocol: handshake.protocol,
    path,
    origin: start.origin,
    get deadline() {
      return relay.deadlineAt;
    },
    totals: () => relay.totals(),
    close: (code, reason) => relay.close(code, reason),
    terminate: () => relay.terminate(),
    get relay() {
      return relay;
    },
  };
  const relay = new WebSocketRelay(
    handshake.client,
    start.backend,
    start.relay,
    (outcome: RelayOutcome) => {
      hold.release();
      pool.sessionClosed(server, session);
      sessions.delete(session);
      if (outcome.handedOver === true) {
        sessionHandedOver(trace, session, outcome);
        log.info(
          { event: "websocket_session_moved", session: id, server: serverName },
          "websocket session handed over",
        );
        return;
      }
      sessionEnded(trace, session, outcome);
      // The line's fields are gathered only when it is written (not at the bench's and many deployments' warn).
      if (!log.isLevelEnabled("info")) return;
      log.info(
        {
          event: "websocket_session",
          session: id,
          server: serverName,
          path,
          backend: backendLabel,
          client: clientAddress,
          clientIp,
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
    },
    resumed?.snapshot,
  );
  sessions.add(session);
  pool.sessionOpened(server, session);
  const trace = handshake.accepted(session);
  tuneSocketForRelay(handshake.client);
  tuneSocketForRelay(start.backend);
  relay.start(handshake.clientHead, start.backendHead);
}
