// A WebSocketProxy taking up a session that another wsgate process handed over (proxy/handover-receive.ts): the
// pool and backend it was on, this config's limits and timeouts, its own id, counters and relay state.
import type { Logger } from "../../observability/logger.js";
import type { SessionRegistry } from "../../observability/sessions.js";
import type { Telemetry } from "../../observability/telemetry.js";
import type { CredentialExpiry } from "../../proxy/credential-expiry.js";
import type { MovedSession, TakeVerdict } from "../../proxy/handover-receive.js";
import { relayDeadline, resumedAccessEntry } from "../../proxy/handover-record.js";
import { startWebSocketSession } from "../../proxy/websocket-session.js";
import type { ServerPool } from "../../upstream/pool.js";
import type { MessageTally } from "../../util/message-tally.js";
import type { RelayOptions } from "../../websocket/relay.js";
import type { ConnectionLimits } from "./handshake-limits.js";
import { resumedRenewalReader } from "./session-lifetime.js";
import type { RelayLimits } from "./relay-limits.js";
import type { WebSocketProxyPool, WebSocketProxySpec } from "./spec.js";

/** The relay's limits and timeouts from the filter's spec and the session's pool; the same for new and moved. */
export function sessionRelayOptions(
  spec: WebSocketProxySpec,
  pool: WebSocketProxyPool,
  negotiated: { firstFrameRsv: number; anyRsv: boolean },
  tallies: { fromClient: MessageTally; fromBackend: MessageTally },
): RelayOptions {
  return {
    clientMaxMessageSize: pool.clientMaxMsgSize,
    backendMaxMessageSize: pool.serverMaxMsgSize,
    pingInterval: spec.pingInterval,
    pongTimeout: spec.pongTimeout,
    maxInactivity: spec.maxInactivity,
    frameTimeout: spec.frameTimeout,
    closeTimeout: spec.closeTimeout,
    maxBufferedBytes: spec.maxBufferedBytes,
    firstFrameRsv: negotiated.firstFrameRsv,
    anyRsv: negotiated.anyRsv,
    backendLostCode: pool.backendCloseCodes?.lost,
    clientTally: tallies.fromClient,
    backendTally: tallies.fromBackend,
  };
}

/** What of the filter a moved session needs. */
export interface ResumeParts {
  spec: WebSocketProxySpec;
  pools: ReadonlyArray<ServerPool<WebSocketProxyPool>>;
  limits: ConnectionLimits;
  sessions: SessionRegistry;
  log: Logger;
  telemetry: Telemetry;
  rateGates(): RelayLimits;
  pipelineInstance: number;
  /** Its credential as its Validator here makes it again, when the session's token may be renewed by a message. */
  credential?: CredentialExpiry | undefined;
}

/**
 * Finds the session's pool (by its index in the spec) and backend (by URL); without them here it is closed with
 * 1001 (as a reload that removed them would drain it). Its relay then starts on this config's limits, from where
 * the old one stopped; the session keeps its id and counts in the pool and in the connection limits.
 */
export function placeMovedSession(moved: MovedSession, parts: ResumeParts): TakeVerdict {
  const { record } = moved;
  const { spec } = parts;
  const poolSpec = spec.pools[record.origin.poolIndex];
  const pool = parts.pools.find((candidate) => candidate.spec === poolSpec);
  if (poolSpec === undefined || pool === undefined) return { kind: "closed", reason: "pool removed" };
  const server = pool.servers.find((candidate) => candidate.url.href === record.origin.backendUrl);
  if (server === undefined) return { kind: "closed", reason: "backend removed" };
  return {
    kind: "taken",
    start: () => {
      // Its id stays its own: ids given here from now on are above it.
      parts.sessions.reserveIdsBelow(record.id + 1);
      const metrics = parts.telemetry.metrics;
      const tallies = metrics.messages.tallies(record.server, record.route);
      const deadline = relayDeadline(record.deadline);
      const clientInspector = resumedRenewalReader(parts.credential, relayDeadline(record.renewal?.lifetime));
      startWebSocketSession({
        handshake: {
          client: moved.client,
          connection: moved.client,
          transport: "h1",
          clientHead: moved.pending.client,
          server: record.server,
          route: record.route,
          pipeline: record.pipeline,
          path: record.path,
          clientIp: record.clientIp,
          protocol: record.protocol,
          accepted: (session) => {
            metrics.sessionStarted(session);
            // Its end is logged here, as its handshake's line would have been there: same start, counts going on.
            const accessLog = parts.telemetry.accessLogs.for(record.server);
            return accessLog === undefined ? metrics : { metrics, accessLog, entry: resumedAccessEntry(record) };
          },
        },
        pool,
        server,
        backend: moved.backend,
        backendHead: moved.pending.backend,
        relay: {
          ...sessionRelayOptions(spec, poolSpec, record, tallies),
          ...parts.rateGates(),
          ...(deadline !== undefined ? { deadline } : {}),
          ...(clientInspector !== undefined ? { clientInspector } : {}),
        },
        origin: { ...record.origin, pipelineInstance: parts.pipelineInstance, drainWindow: spec.drainWindow },
        sessions: parts.sessions,
        log: parts.log,
        hold: parts.limits.adopt(record.clientIp),
        resumed: { id: record.id, client: record.client, startedAt: record.startedAt, snapshot: record.relay },
      });
    },
  };
}
