import type { AccessEntry } from "./access-log.js";
import { LinkedSet } from "../util/linked-set.js";

/**
 * Where a session came from, so that a reload can tell which sessions its changes concern: the pipeline instance
 * whose filters and pool it runs on, the route it came in by, and the backend it went to.
 */
export interface SessionOrigin {
  /** The Pipeline object (one per version of a pipeline's spec) the session started on; 0 outside a gateway. */
  readonly pipelineInstance: number;
  /** The route's identity: server, rule host criteria, path criteria and pipeline; stable across reloads. */
  readonly routeKey: string;
  /** The WebSocketProxy filter that made the session. */
  readonly filter: string;
  /** Index of the filter's pool the backend was picked from. */
  readonly poolIndex: number;
  /** The backend server's URL, as in the pool's spec. */
  readonly backendUrl: string;
  /** The filter's `drainWindow` (ms): how long a reload that removes the session's route spreads its closes over. */
  readonly drainWindow: number;
}

/** A live WebSocket session, as status views and shutdown see it. */
export interface LiveSession {
  readonly id: number;
  readonly server: string;
  /** The route the upgrade matched, as status views show it: host then path (`*` for any host), e.g. `example.com/ws`. */
  readonly route: string;
  readonly pipeline: string;
  readonly backend: string;
  /** The TCP peer, `address:port` (a balancer's address behind one). */
  readonly client: string;
  /** The client's address as the server decided it (client-ip.ts): what filters, limits and logs used. */
  readonly clientIp: string;
  readonly startedAt: number;
  /** The subprotocol the backend chose (`Sec-WebSocket-Protocol` of its 101); undefined when none. */
  readonly protocol?: string | undefined;
  /** How the client's WebSocket travels: its own HTTP/1.1 connection, or a stream of an HTTP/2 one (RFC 8441). */
  readonly transport?: "h1" | "h2";
  readonly origin: SessionOrigin;
  /** When the session will be closed (ms since epoch: a credential's end, a lifetime); undefined when never. */
  readonly deadline?: number | undefined;
  /** Messages and bytes relayed so far, each way. */
  totals(): { fromClient: { messages: number; bytes: number }; fromBackend: { messages: number; bytes: number } };
  /** Closes both sides with this code, as the gateway. */
  close(code: number, reason: string): void;
  /** Cuts both TCP connections at once, for what is left when a drain time is over. */
  terminate(): void;
  /** The request target as the log line shows it (secret query parameters redacted); where known. */
  readonly path?: string;
  /** Its relay, for a hand-over to another process (proxy/handover-*.ts knows its type); absent where none. */
  readonly relay?: object;
  /** The access-log entry its handshake began (its server logs access), for a hand-over to another process. */
  accessEntry?(): Readonly<AccessEntry> | undefined;
}

/**
 * Every live session of the gateway, so that shutdown can close them and wait for them, and reloads can find the
 * sessions of a route or a pipeline instance and know when a retired instance has none left.
 */
export class SessionRegistry {
  private readonly live = new LinkedSet<LiveSession>();
  /** Live sessions per pipeline instance. */
  private readonly perInstance = new Map<number, number>();
  private nextId = 1;
  private waiters: Array<() => void> = [];
  private readonly instanceIdleListeners: Array<(instance: number) => void> = [];
  private readonly addedListeners: Array<(session: LiveSession) => void> = [];

  newId(): number {
    return this.nextId++;
  }

  /** The id the next session will get. */
  peekNextId(): number {
    return this.nextId;
  }

  /** Ids below `id` are taken (sessions moved in from another process keep theirs): new ones start at `id` or above. */
  reserveIdsBelow(id: number): void {
    if (id > this.nextId) this.nextId = id;
  }

  add(session: LiveSession): void {
    if (!this.live.add(session)) return;
    const instance = session.origin.pipelineInstance;
    this.perInstance.set(instance, (this.perInstance.get(instance) ?? 0) + 1);
    for (const listener of this.addedListeners) listener(session);
  }

  delete(session: LiveSession): void {
    if (!this.live.delete(session)) return;
    const instance = session.origin.pipelineInstance;
    const left = (this.perInstance.get(instance) ?? 1) - 1;
    if (left > 0) this.perInstance.set(instance, left);
    else {
      this.perInstance.delete(instance);
      for (const listener of this.instanceIdleListeners) listener(instance);
    }
    if (this.live.size === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  get size(): number {
    return this.live.size;
  }

  has(session: LiveSession): boolean {
    return this.live.has(session);
  }

  list(): LiveSession[] {
    return [...this.live];
  }

  /** The live sessions, oldest first, without copying them into an array. */
  values(): Iterable<LiveSession> {
    return this.live;
  }

  /** Live sessions that started on pipeline instance `instance`. */
  countOf(instance: number): number {
    return this.perInstance.get(instance) ?? 0;
  }

  /** Calls `listener` with each session as it is added. */
  onAdded(listener: (session: LiveSession) => void): void {
    this.addedListeners.push(listener);
  }

  /** Calls `listener` each time the last live session of a pipeline instance ends. */
  onInstanceIdle(listener: (instance: number) => void): void {
    this.instanceIdleListeners.push(listener);
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
