// Closing the live sessions of a server that active checks marked unhealthy: after a grace period, one at a time,
// spread evenly over a window, so that the clients do not all reconnect at the same moment.

/** What a drain needs of a session. */
export interface DrainableSession {
  close(code: number, reason: string): void;
}

export const DRAIN_CLOSE_CODE = 1001;
export const DRAIN_CLOSE_REASON = "backend unhealthy";
/** The reason when the operator drains a server (`wsgate drain`). */
export const OPERATOR_DRAIN_REASON = "backend draining";

export class SessionDrain {
  readonly #queue: DrainableSession[];
  readonly #isLive: (session: DrainableSession) => boolean;
  readonly #step: number;
  readonly #reason: string;
  readonly #code: number;
  #timer: NodeJS.Timeout | undefined;
  #next = 0;

  /**
   * `sessions` are the server's sessions when it turned unhealthy; the first is closed after `after` ms, the
   * others every over/n ms after that. `isLive` skips sessions that ended on their own meanwhile. `reason` goes with
   * `code` (reloads drain with their own reason; a pool's `backendCloseCodes.drained` sets the code).
   */
  constructor(
    sessions: readonly DrainableSession[],
    after: number,
    over: number,
    isLive: (session: DrainableSession) => boolean,
    reason = DRAIN_CLOSE_REASON,
    code = DRAIN_CLOSE_CODE,
  ) {
    this.#reason = reason;
    this.#code = code;
    this.#queue = [...sessions];
    this.#isLive = isLive;
    this.#step = this.#queue.length === 0 ? 0 : over / this.#queue.length;
    if (this.#queue.length > 0) this.#timer = setTimeout(() => this.#closeNext(), after).unref();
  }

  get pending(): number {
    return this.#queue.length - this.#next;
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#next = this.#queue.length;
  }

  #closeNext(): void {
    this.#timer = undefined;
    // Sessions that already ended take no slot.
    while (this.#next < this.#queue.length) {
      const session = this.#queue[this.#next++];
      if (session === undefined || !this.#isLive(session)) continue;
      try {
        session.close(this.#code, this.#reason);
      } catch {
        // One session that cannot close must not stop the drain (nor, from a timer, the process).
      }
      break;
    }
    if (this.#next < this.#queue.length) this.#timer = setTimeout(() => this.#closeNext(), this.#step).unref();
  }
}
