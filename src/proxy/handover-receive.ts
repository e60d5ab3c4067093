// The new process's half of a session hand-over: gather each session's record and two sockets, ask the gateway
// where it goes, answer the old process, and only once that answer is written, take the session up.
import { Socket } from "node:net";
import type { Logger } from "../observability/logger.js";
import { WebSocketRelay } from "../websocket/relay.js";
import { CloseCode } from "../websocket/protocol.js";
import { freezeReads, thawReads } from "../websocket/socket-freeze.js";
import {
  HANDOVER_TAG,
  isHandoverMessage,
  isSessionRecord,
  type HandoverMessage,
  type SessionRecord,
} from "./handover-record.js";
import type { HandoverChannel, TakeReport, TakeSessions } from "./handover-types.js";

/** A session that arrived whole: its record, its two connections (not read yet), the bytes to read first. */
export interface MovedSession {
  record: SessionRecord;
  client: Socket;
  backend: Socket;
  pending: { client: Buffer; backend: Buffer };
}

/**
 * Where the gateway puts a moved session: `taken` with the function that starts it (called once the old process
 * has been told), `closed` when no filter here serves it (it is closed with 1001), `refused` when it cannot be.
 */
export type TakeVerdict =
  { kind: "taken"; start(): void } | { kind: "closed"; reason: string } | { kind: "refused"; reason: string };

/** How long a session closed for want of a filter gets for its close handshakes (ms). */
const CLOSE_TIMEOUT_MS = 5000;

interface Half {
  record: SessionRecord | null;
  client: Socket;
}

/** Listens on `channel` for sessions (handover-send.ts) and puts each where `place` says. */
export function takeSessions(
  channel: HandoverChannel,
  place: (moved: MovedSession) => TakeVerdict,
  log: Logger,
): TakeSessions {
  const report: TakeReport = { taken: 0, closed: 0, refused: 0 };
  const halves = new Map<number, Half>();
  let resolveDone: (report: TakeReport) => void = () => undefined;
  const done = new Promise<TakeReport>((resolve) => {
    resolveDone = resolve;
  });

  const stop = (): void => {
    channel.off("message", onMessage);
    channel.off("disconnect", stop);
    // A session whose second socket never came is the old process's still: this copy of the first is let go.
    for (const half of halves.values()) half.client.destroy();
    halves.clear();
    resolveDone(report);
  };

  const answer = (id: number, verdict: TakeVerdict, then: () => void, otherwise: () => void): void => {
    const message: HandoverMessage = {
      [HANDOVER_TAG]: 1,
      kind: verdict.kind,
      id,
      ...(verdict.kind !== "taken" ? { reason: verdict.reason } : {}),
    };
    try {
      channel.send(message, undefined, undefined, (error) => (error === null ? then() : otherwise()));
    } catch {
      otherwise();
    }
  };

  const arrived = (moved: MovedSession): void => {
    const id = moved.record.id;
    let verdict: TakeVerdict;
    try {
      verdict = place(moved);
    } catch (error) {
      verdict = { kind: "refused", reason: error instanceof Error ? error.message : String(error) };
    }
    const letGo = (): void => {
      // The old process keeps (or takes back) the session: this process's copies of its sockets go, no close sent.
      moved.client.destroy();
      moved.backend.destroy();
    };
    answer(
      id,
      verdict,
      () => {
        if (verdict.kind === "taken") {
          verdict.start();
          report.taken++;
        } else if (verdict.kind === "closed") {
          closeMovedSession(moved, verdict.reason, log);
          report.closed++;
        } else {
          letGo();
          report.refused++;
          return;
        }
        thawReads(moved.client, false);
        thawReads(moved.backend, false);
      },
      letGo,
    );
  };

  const onMessage = (message: unknown, handle: unknown): void => {
    if (!isHandoverMessage(message)) return;
    if (message.kind === "done") {
      stop();
      return;
    }
    if (message.kind !== "session") return;
    if (!(handle instanceof Socket)) return;
    // Nothing is read here until the old process knows the session is ours (it may yet take it back).
    freezeReads(handle);
    if (message.part === "client") {
      halves.set(message.id, { record: isSessionRecord(message.record) ? message.record : null, client: handle });
      return;
    }
    const half = halves.get(message.id);
    halves.delete(message.id);
    if (half === undefined) {
      handle.destroy();
      return;
    }
    if (half.record === null) {
      const refused: TakeVerdict = { kind: "refused", reason: "record not understood" };
      answer(
        message.id,
        refused,
        () => undefined,
        () => undefined,
      );
      half.client.destroy();
      handle.destroy();
      report.refused++;
      return;
    }
    const record = half.record;
    arrived({
      record,
      client: half.client,
      backend: handle,
      pending: {
        client: Buffer.from(record.pending.client, "base64"),
        backend: Buffer.from(record.pending.backend, "base64"),
      },
    });
  };

  channel.on("message", onMessage);
  channel.on("disconnect", stop);
  return { done, stop };
}

/** A session no filter here serves: a relay of its own carries it through a 1001 close on both sides. */
export function closeMovedSession(moved: MovedSession, reason: string, log: Logger): void {
  const { record } = moved;
  log.warn(
    {
      event: "websocket_session_moved",
      session: record.id,
      pipeline: record.pipeline,
      filter: record.origin.filter,
      reason,
    },
    "a session handed over has no WebSocketProxy here: closed with 1001",
  );
  const relay = new WebSocketRelay(
    moved.client,
    moved.backend,
    {
      clientMaxMessageSize: -1,
      backendMaxMessageSize: -1,
      pingInterval: 0,
      pongTimeout: 0,
      maxInactivity: 0,
      frameTimeout: 0,
      closeTimeout: CLOSE_TIMEOUT_MS,
      firstFrameRsv: record.firstFrameRsv,
      anyRsv: record.anyRsv,
      maxBufferedBytes: -1,
    },
    () => undefined,
    record.relay,
  );
  relay.start(moved.pending.client, moved.pending.backend);
  relay.close(CloseCode.GoingAway, reason);
}
