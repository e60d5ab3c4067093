// A session's deadline, as the relay keeps it: a time, an optional warning to the client before it, and the close it
// means. What sets it (a token's expiry, a certificate, a lifetime with jitter) is the filters' business.
import type { MessageInspector } from "./message-inspector.js";

/** When the session ends and what the client is told then; the backend gets 1001. */
export interface RelayDeadline {
  /** When the session is closed (ms since epoch). */
  readonly at: number;
  /** The close code and reason the client gets. */
  readonly code: number;
  readonly reason: string;
  /** A whole data frame for the client (unmasked), sent once between messages `warnBefore` ms before `at`. */
  readonly warning?: Buffer;
  readonly warnBefore?: number;
  /** The warning went out already (before the session moved to another process): it is not sent again. */
  readonly warned?: boolean;
}

/** What the relay lets its deadline do. */
export interface DeadlineHost {
  /** Sends the warning frame to the client between two messages; false when a message is in flight to it. */
  warnClient(frame: Buffer): boolean;
  /** Closes the session: the client with `code` and `reason`, the backend with 1001. */
  expire(code: number, reason: string): void;
}

/** What may act on a session with a deadline from outside the relay (a renewal's check, when it completes). */
export interface SessionControl {
  /** Sets or moves the deadline; ignored once the session is closing. */
  setDeadline(deadline: RelayDeadline): void;
  /** Closes the session: the client with `code` and `reason`, the backend with 1001. */
  expire(code: number, reason: string): void;
}

/** Reads the client's small whole text messages for the session (see MessageInspector); true: consumed. */
export interface ClientMessageInspector {
  readonly maxMessageSize: number;
  inspect(payload: Buffer, session: SessionControl): boolean;
}

/** The frame stream's inspector for one relay: made only for a session that has a client inspector. */
export function inspectorFor(inspector: ClientMessageInspector, session: SessionControl): MessageInspector {
  return { maxMessageSize: inspector.maxMessageSize, inspect: (payload) => inspector.inspect(payload, session) };
}

/** setTimeout's longest wait; a later deadline is reached in several waits. */
const MAX_WAIT_MS = 0x7fffffff;
/** A warning due while a message is in flight to the client is tried again this much later. */
const WARNING_RETRY_MS = 5;

/**
 * The one timer of a session with a deadline (a session without one has none, and no object of this class). It
 * fires at the warning time, then at the deadline; a moved deadline (a renewed token) sets it again, and a warning
 * already sent is sent again before the new deadline.
 */
export class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;
  private warned = false;

  constructor(
    private readonly host: DeadlineHost,
    private current: RelayDeadline,
  ) {
    this.warned = current.warned === true;
  }

  /** The deadline in force (ms since epoch). */
  get at(): number {
    return this.current.at;
  }

  /** The deadline in force, whole (a session moved to another process takes it along). */
  get deadline(): RelayDeadline {
    return this.warned ? { ...this.current, warned: true } : this.current;
  }

  start(): void {
    this.schedule(Date.now());
  }

  /** Moves the deadline (earlier or later); the warning goes out again before the new one. */
  move(deadline: RelayDeadline): void {
    this.current = deadline;
    this.warned = false;
    clearTimeout(this.timer);
    this.schedule(Date.now());
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private warnAt(): number {
    const { warning, warnBefore } = this.current;
    return warning === undefined || this.warned ? Infinity : this.current.at - (warnBefore ?? 0);
  }

  private schedule(now: number): void {
    const next = Math.min(this.warnAt(), this.current.at);
    this.timer = setTimeout(this.onTick, Math.min(MAX_WAIT_MS, Math.max(0, next - now)));
  }

  private readonly onTick = (): void => {
    this.timer = undefined;
    const now = Date.now();
    const deadline = this.current;
    if (deadline.at <= now) {
      this.host.expire(deadline.code, deadline.reason);
      return;
    }
    if (this.warnAt() <= now && deadline.warning !== undefined) {
      if (!this.host.warnClient(deadline.warning)) {
        // A message is in flight to the client: the warning must not land between its fragments.
        this.timer = setTimeout(this.onTick, Math.min(WARNING_RETRY_MS, deadline.at - now));
        return;
      }
      this.warned = true;
    }
    this.schedule(now);
  };
}

/** A whole, unmasked data frame for a client: text (0x1) or binary (0x2); made once per setting, not per session. */
export function encodeWarningFrame(payload: Buffer, binary: boolean): Buffer {
  const length = payload.length;
  const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const frame = Buffer.allocUnsafe(2 + extra + length);
  frame[0] = 0x80 | (binary ? 0x2 : 0x1);
  if (extra === 0) frame[1] = length;
  else if (extra === 2) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, 2 + extra);
  return frame;
}
