// The gateway-level surface of a session hand-over between two wsgate processes (issue 20): what the process side
// (control/upgrade) calls, and what it gets back. The wire format and the mechanics are in handover-*.ts.

import type { Socket } from "node:net";

/**
 * One end of a Node IPC channel: a ChildProcess in the old process, `process` in the new one. The hand-over's own
 * messages are objects with `wsgateHandover: 1`; other messages on the channel are left alone.
 */
export interface HandoverChannel {
  send(
    message: unknown,
    sendHandle?: Socket,
    options?: { keepOpen?: boolean },
    callback?: (error: Error | null) => void,
  ): boolean;
  on(event: "message", listener: (message: unknown, handle: unknown) => void): unknown;
  on(event: "disconnect", listener: () => void): unknown;
  off(event: "message", listener: (message: unknown, handle: unknown) => void): unknown;
  off(event: "disconnect", listener: () => void): unknown;
  readonly connected: boolean;
}

export interface HandOverOptions {
  /** How long sessions get to reach a frame boundary with their writes drained (ms); default 2000. */
  settleMs?: number;
}

/** Why a session stays in the old process. */
export interface KeptSessions {
  /** The client's connection is TLS terminated by the gateway: its keys cannot leave the process. */
  tls: number;
  /** The backend's connection is wss://. */
  wssBackend: number;
  /** It did not reach a frame boundary with its writes drained within `settleMs` (or began closing). */
  unsettled: number;
  /** Anything else that cannot carry a socket to another process (an HTTP/2 stream, a test's in-memory stream). */
  notMovable: number;
}

/**
 * What `Gateway.handOverSessions` did; moved + kept + failed + closed = the sessions live when it was called, less
 * those that ended on their own while they waited for their turn (sessions are paused a window at a time).
 */
export interface HandOverReport {
  moved: number;
  /** Still served by the old process, normally (see `keptBy`). */
  kept: number;
  keptBy: KeptSessions;
  /** Sent but not acknowledged (the new process died or refused): resumed in the old process, working. */
  failed: number;
  /** Sent, and closed by the new process with 1001 on both sides: its config has no such WebSocketProxy any more. */
  closed: number;
  /** Why the hand-over stopped early, when it did (channel closed, timeout). */
  failedReason?: string | undefined;
  tookMs: number;
}

/** A hand-over that moved nothing (a worker with no gateway yet, or one that never answered: `failedReason`). */
export function emptyHandOverReport(failedReason?: string): HandOverReport {
  return {
    moved: 0,
    kept: 0,
    keptBy: { tls: 0, wssBackend: 0, unsettled: 0, notMovable: 0 },
    failed: 0,
    closed: 0,
    ...(failedReason === undefined ? {} : { failedReason }),
    tookMs: 0,
  };
}

/** What `Gateway.takeSessions` did, once the old process said it was finished (or the channel closed). */
export interface TakeReport {
  /** Resumed here with their old ids. */
  taken: number;
  /** Arrived for a filter this config no longer has: closed with 1001 on both sides. */
  closed: number;
  /** Could not be resumed (a broken record or socket): refused back to the old process, which resumes them. */
  refused: number;
}

export interface TakeSessions {
  readonly done: Promise<TakeReport>;
  /** Stops listening on the channel. */
  stop(): void;
}
