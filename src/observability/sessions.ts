/** A live WebSocket session, as status views and shutdown see it. */
export interface LiveSession {
  readonly id: number;
  readonly server: string;
  /** The route the upgrade matched, as status views show it. */
  readonly route: string;
  readonly pipeline: string;
  readonly backend: string;
  readonly client: string;
  readonly startedAt: number;
  /** Messages and bytes relayed so far, each way. */
  totals(): { fromClient: { messages: number; bytes: number }; fromBackend: { messages: number; bytes: number } };
  /** Closes both sides with this code, as the gateway. */
  close(code: number, reason: string): void;
  /** Cuts both TCP connections at once, for what is left when a drain time is over. */
  terminate(): void;
}

/** Every live session of the gateway, so that shutdown can close them and wait for them. */
export class SessionRegistry {
  private readonly live = new Set<LiveSession>();
  private nextId = 1;
  private waiters: Array<() => void> = [];

  newId(): number {
    return this.nextId++;
  }

  add(session: LiveSession): void {
    this.live.add(session);
  }

  delete(session: LiveSession): void {
    this.live.delete(session);
    if (this.live.size === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  get size(): number {
    return this.live.size;
  }

  list(): LiveSession[] {
    return [...this.live];
  }

  closeAll(code: number, reason: string): void {
    for (const session of this.live) session.close(code, reason);
  }

  terminateAll(): void {
    for (const session of this.live) session.terminate();
  }

  /** Resolves true once no session is left, or false after `timeoutMs`. */
  waitUntilEmpty(timeoutMs: number): Promise<boolean> {
    if (this.live.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
