// The old process's half of a session hand-over: bring each movable session to rest, send its record and its two
// sockets, and let go of it only once the new process has answered for it. Anything unanswered resumes here.
import type { Socket } from "node:net";
import type { Logger } from "../observability/logger.js";
import type { LiveSession } from "../observability/sessions.js";
import { WebSocketRelay, type RelayHandoverFacts, type PendingBytes, type RelaySnapshot } from "../websocket/relay.js";
import { unmovableReason } from "../websocket/socket-freeze.js";
import { renewalStateOf } from "./credential-expiry.js";
import {
  HANDOVER_TAG,
  deadlineRecord,
  isHandoverMessage,
  renewalRecord,
  type HandoverMessage,
  type SessionRecord,
} from "./handover-record.js";
import type { HandOverOptions, HandOverReport, HandoverChannel, KeptSessions } from "./handover-types.js";

const DEFAULT_SETTLE_MS = 2000;
/**
 * Sessions paused at once (settling, or sent and not yet answered). Node passes one socket per round trip over IPC,
 * so a queue of thousands takes seconds: a session paused only when its turn is near sees a pause of about this
 * window's round trips, not the whole queue's.
 */
const IN_FLIGHT = 64;
/** How often sessions still settling are looked at (ms): each look is a few field reads per session. */
const SETTLE_POLL_MS = 2;
/**
 * How often the channel is looked at while answers are awaited. Node emits no `disconnect` when the other process
 * dies while a sent handle awaits its internal acknowledgement (the queue is never flushed); `connected` does turn
 * false.
 */
const CHANNEL_CHECK_MS = 50;

/** A session on its way: settling, or sent and waiting for the new process's answer. */
interface Moving {
  session: LiveSession;
  relay: WebSocketRelay;
  facts: RelayHandoverFacts;
  /** When it must be at rest, or go on here (set when its settling begins). */
  settleBy: number;
}

/** Which sessions can move at all; the others are counted in `kept` by the reason. */
function movableRelay(session: LiveSession, kept: KeptSessions): Moving | null {
  const relay = session.relay;
  if (!(relay instanceof WebSocketRelay)) {
    kept.notMovable++;
    return null;
  }
  const facts = relay.handoverFacts();
  const client = unmovableReason(facts.client);
  const backend = unmovableReason(facts.backend);
  if (client === "tls") kept.tls++;
  else if (backend === "tls") kept.wssBackend++;
  else if (client !== null || backend !== null) kept.notMovable++;
  else return { session, relay, facts, settleBy: 0 };
  return null;
}

/**
 * Node's IPC sees a socket with a `server` and makes that server ask the receiving process about its connections
 * when it closes (child_process `_setupWorker`, keepOpen or not): a receiver that died meanwhile never answers, and
 * the listener would never finish closing. An upgraded connection is not the HTTP server's business any more; its
 * count (`_server`) stays as it was.
 */
function hideServer(socket: Socket): void {
  (socket as Socket & { server: unknown }).server = null;
}

export function sessionRecord(
  moving: Moving,
  captured: { snapshot: RelaySnapshot; pending: PendingBytes },
): SessionRecord {
  const { session, facts } = moving;
  // As it is now, at rest: a warning may have gone out since the session was queued.
  const now = moving.relay.handoverFacts();
  const deadline = deadlineRecord(now.deadline);
  const renewal = renewalRecord(renewalStateOf(now.clientInspector));
  const access = session.accessEntry?.();
  return {
    version: 1,
    id: session.id,
    server: session.server,
    route: session.route,
    pipeline: session.pipeline,
    path: session.path ?? "",
    backend: session.backend,
    client: session.client,
    clientIp: session.clientIp,
    startedAt: session.startedAt,
    ...(session.protocol !== undefined ? { protocol: session.protocol } : {}),
    origin: { ...session.origin },
    firstFrameRsv: facts.firstFrameRsv,
    anyRsv: facts.anyRsv,
    ...(deadline !== undefined ? { deadline } : {}),
    ...(renewal !== undefined ? { renewal } : {}),
    ...(access !== undefined ? { access: { ...access } } : {}),
    relay: captured.snapshot,
    pending: {
      client: captured.pending.client.toString("base64"),
      backend: captured.pending.backend.toString("base64"),
    },
  };
}

/**
 * Hands `sessions` over `channel` (see handover-types.ts and the API note). Resolves once every session has moved,
 * stayed, or come back, or the channel closed; never rejects.
 */
export function handOverSessions(
  sessions: Iterable<LiveSession>,
  channel: HandoverChannel,
  options: HandOverOptions,
  log: Logger,
): Promise<HandOverReport> {
  const started = Date.now();
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  const keptBy: KeptSessions = { tls: 0, wssBackend: 0, unsettled: 0, notMovable: 0 };
  const report: HandOverReport = { moved: 0, kept: 0, keptBy, failed: 0, closed: 0, tookMs: 0 };
  // Movable sessions wait here, unpaused, until there is room in flight.
  const queued: Moving[] = [];
  const settling = new Map<number, Moving>();
  const awaiting = new Map<number, Moving>();
  for (const session of sessions) {
    const moving = movableRelay(session, keptBy);
    if (moving !== null) queued.push(moving);
  }
  let next = 0;
  const beginMore = (): void => {
    while (next < queued.length && settling.size + awaiting.size < IN_FLIGHT) {
      const moving = queued[next++] as Moving;
      moving.settleBy = Date.now() + settleMs;
      if (moving.relay.beginSettle()) settling.set(moving.session.id, moving);
      // Ended on its own while it waited for its turn: nothing is left to move or keep.
      else if (moving.relay.state().phase !== "finished") keptBy.unsettled++;
    }
  };
  const allDone = (): boolean => next === queued.length && settling.size === 0 && awaiting.size === 0;

  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const watch = setInterval(() => {
      if (!channel.connected) onDisconnect();
    }, CHANNEL_CHECK_MS);

    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearInterval(watch);
      channel.off("message", onMessage);
      channel.off("disconnect", onDisconnect);
      if (channel.connected) {
        try {
          channel.send({ [HANDOVER_TAG]: 1, kind: "done" } satisfies HandoverMessage);
        } catch {
          // The channel closed meanwhile: the other side ends on its `disconnect`.
        }
      }
      report.kept = keptBy.tls + keptBy.wssBackend + keptBy.unsettled + keptBy.notMovable;
      report.tookMs = Date.now() - started;
      log.info({ event: "sessions_handed_over", ...report, keptBy: { ...keptBy } }, "sessions handed over");
      resolve(report);
    };

    /** What could not be sent or was not answered goes on here. */
    const comeBack = (moving: Moving, reason: string): void => {
      moving.relay.cancelSettle();
      report.failed++;
      report.failedReason ??= reason;
    };

    const onDisconnect = (): void => {
      if (finished) return;
      for (const moving of [...settling.values(), ...awaiting.values()]) comeBack(moving, "the channel closed");
      // Those never paused go on as they were; the hand-over failed for them too.
      for (; next < queued.length; next++) comeBack(queued[next] as Moving, "the channel closed");
      settling.clear();
      awaiting.clear();
      finish();
    };

    const onMessage = (message: unknown): void => {
      if (!isHandoverMessage(message) || message.kind === "session" || message.kind === "done") return;
      const moving = awaiting.get(message.id);
      if (moving === undefined) return;
      awaiting.delete(message.id);
      if (message.kind === "refused") {
        log.warn({ session: message.id, reason: message.reason }, "the new process refused a session: it goes on here");
        comeBack(moving, `refused: ${message.reason ?? ""}`);
      } else {
        // Taken, or closed there with 1001 (no filter for it in the new config): either way, not ours any more.
        moving.relay.handedOver();
        if (message.kind === "taken") report.moved++;
        else report.closed++;
      }
      afterAnswer();
    };

    /** Room in flight again: the next sessions begin settling (and are polled), or everything is done. */
    const afterAnswer = (): void => {
      if (finished) return;
      beginMore();
      if (allDone()) finish();
      else if (settling.size > 0 && timer === undefined) timer = setTimeout(poll, SETTLE_POLL_MS);
    };

    const send = (moving: Moving, record: SessionRecord): void => {
      const id = record.id;
      hideServer(moving.facts.client as Socket);
      awaiting.set(id, moving);
      const failed = (error: Error | null): void => {
        // Not written: the new process cannot have both sockets, and it answers only with both.
        if (error === null || !awaiting.delete(id)) return;
        comeBack(moving, error.message);
        afterAnswer();
      };
      try {
        // keepOpen: this process keeps its copy of each connection until the answer, to resume on failure.
        channel.send(
          { [HANDOVER_TAG]: 1, kind: "session", id, part: "client", record } satisfies HandoverMessage,
          moving.facts.client as Socket,
          { keepOpen: true },
          failed,
        );
        channel.send(
          { [HANDOVER_TAG]: 1, kind: "session", id, part: "backend" } satisfies HandoverMessage,
          moving.facts.backend as Socket,
          { keepOpen: true },
          failed,
        );
      } catch (error) {
        failed(error instanceof Error ? error : new Error(String(error)));
      }
    };

    const poll = (): void => {
      timer = undefined;
      const now = Date.now();
      for (const [id, moving] of settling) {
        const late = now >= moving.settleBy;
        const relay = moving.relay;
        const captured = relay.state().phase === "open" ? relay.capture() : null;
        if (captured !== null) {
          settling.delete(id);
          send(moving, sessionRecord(moving, captured));
        } else if (late || relay.state().phase !== "open") {
          // Not at rest in time, or closing meanwhile: it goes on (or ends) here, as if nothing happened.
          settling.delete(id);
          relay.cancelSettle();
          keptBy.unsettled++;
        }
      }
      if (finished) return;
      // Those kept as unsettled made room.
      beginMore();
      if (settling.size > 0) timer = setTimeout(poll, SETTLE_POLL_MS);
      else if (allDone()) finish();
    };

    channel.on("message", onMessage);
    channel.on("disconnect", onDisconnect);
    if (!channel.connected) {
      onDisconnect();
      return;
    }
    beginMore();
    poll();
  });
}
