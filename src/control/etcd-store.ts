import type { Etcd3, IEvent, IKeyValue, IWatchResponse, Watcher } from "etcd3";
import type { ConfigObject } from "../config/load.js";
import {
  ObjectExistsError,
  ObjectNotFoundError,
  ObjectStoreError,
  StaleRevisionError,
  StoreStartTimeoutError,
  StoreUnavailableError,
} from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { Backoff, DEFAULT_MAX_BACKOFF_MS, sleep } from "./backoff.js";
import { createEtcdClient, DEFAULT_CALL_TIMEOUT_MS } from "./etcd-client.js";
import { decodeObject, encodeObject } from "./etcd-codec.js";
import { ClusterKeys } from "./etcd-keys.js";
import type { ObjectStore, ObjectsListener, StoredObject } from "./object-store.js";
import { StoreStateLog } from "./store-state.js";

export interface EtcdStoreOptions {
  /** `http://host:port` URLs (see parseStoreUrl). */
  endpoints: readonly string[];
  /** Objects live under `/wsgate/<cluster>/objects/`. */
  cluster: string;
  log: Logger;
  /** How long `open` waits for an unreachable etcd before it throws StoreStartTimeoutError. */
  startTimeoutMs?: number;
  callTimeoutMs?: number;
  maxBackoffMs?: number;
}

export const DEFAULT_START_TIMEOUT_MS = 30_000;

/** etcd refuses transactions with more operations than this (its --max-txn-ops default is 128). */
const TXN_CHUNK = 100;

interface MirrorEntry extends StoredObject {
  /** The stored value, to tell a real change from a rewrite of the same text. */
  value: string;
}

interface Listing {
  revision: number;
  kvs: IKeyValue[];
}

/**
 * The cluster store: objects under `/wsgate/<cluster>/objects/<name>` in etcd, with etcd's `mod_revision` as the
 * revision for optimistic locking. An in-memory mirror, loaded at open and kept current by a watch on the prefix,
 * answers `list()`/`get()` synchronously and keeps serving while etcd is away.
 *
 * Every change reaches the listeners through the watch, this member's writes included, so every member applies the
 * same changes the same way. A write resolves once the watch has delivered it (or after the call timeout), so a
 * `create` followed by `get` sees the object, as with the memory store.
 *
 * When etcd goes away the mirror stays as it was; the watch reconnects with capped back-off; on return the prefix is
 * listed again at one revision, watch events held meanwhile are applied on top, and listeners hear once if anything
 * changed. A value that is not a valid object is logged once and skipped: the mirror keeps the last good version.
 */
export class EtcdObjectStore implements ObjectStore {
  /** In load order: etcd's create revision (a Map keeps insertion order, and an update keeps its place). */
  private mirror = new Map<string, MirrorEntry>();
  private readonly listeners: ObjectsListener[] = [];
  /** The highest etcd revision the mirror reflects: watch events at or below it are already in. */
  private seenRevision = 0;
  private watcher: Watcher | undefined;
  private watchLost = false;
  /** While the prefix is being listed again: watch events wait here, to be applied on top of the listing. */
  private held: IEvent[] | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly resyncBackoff: Backoff;
  private revisionWaiters: Array<{ revision: number; wake: () => void }> = [];
  /** Broken values already logged, by key and revision, so each is logged once. */
  private readonly reported = new Set<string>();
  private closed = false;
  readonly state: StoreStateLog;
  readonly keys: ClusterKeys;

  private constructor(
    /** Shared with Membership (which must be closed first); the store closes it. */
    readonly client: Etcd3,
    keys: ClusterKeys,
    private readonly log: Logger,
    readonly endpoints: readonly string[],
    private readonly callTimeoutMs: number,
    maxBackoffMs: number,
  ) {
    this.keys = keys;
    this.state = new StoreStateLog(log, endpoints);
    this.resyncBackoff = new Backoff(100, maxBackoffMs);
  }

  /** Loads every object under the cluster prefix and starts watching it; waits up to `startTimeoutMs` for etcd. */
  static async open(options: EtcdStoreOptions): Promise<EtcdObjectStore> {
    const keys = new ClusterKeys(options.cluster);
    const maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const client = createEtcdClient({ endpoints: options.endpoints, callTimeoutMs, maxBackoffMs });
    const store = new EtcdObjectStore(client, keys, options.log, options.endpoints, callTimeoutMs, maxBackoffMs);
    try {
      await store.firstLoad(options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS, maxBackoffMs);
    } catch (error) {
      client.close();
      throw error;
    }
    store.startWatch();
    return store;
  }

  list(): StoredObject[] {
    return [...this.mirror.values()].map(({ object, revision }) => ({ object, revision }));
  }

  get(name: string): StoredObject | undefined {
    const entry = this.mirror.get(name);
    return entry === undefined ? undefined : { object: entry.object, revision: entry.revision };
  }

  async create(object: ConfigObject): Promise<StoredObject> {
    const key = this.keys.objectKey(object.name);
    const answer = await this.call(`create ${object.name}`, () =>
      this.client
        .if(key, "Create", "==", 0)
        .then(this.client.put(key).value(encodeObject(object)))
        .commit(),
    );
    if (!answer.succeeded) throw new ObjectExistsError(object.name);
    return this.written(object, Number(answer.header.revision));
  }

  async update(object: ConfigObject, expectedRevision?: number): Promise<StoredObject> {
    const key = this.keys.objectKey(object.name);
    const answer = await this.call(`update ${object.name}`, () => {
      // An absent key has mod_revision 0, so "exists" is checked too: expected revision 0 must not create.
      const compare = this.client.if(key, "Create", ">", 0);
      if (expectedRevision !== undefined) compare.and(key, "Mod", "==", expectedRevision);
      return compare
        .then(this.client.put(key).value(encodeObject(object)))
        .else(this.client.get(key))
        .commit();
    });
    if (!answer.succeeded) {
      const current = answer.responses[0]?.response_range?.kvs[0];
      if (current === undefined) throw new ObjectNotFoundError(object.name);
      throw new StaleRevisionError(object.name, expectedRevision ?? 0, Number(current.mod_revision));
    }
    return this.written(object, Number(answer.header.revision));
  }

  async delete(name: string): Promise<void> {
    const key = this.keys.objectKey(name);
    const answer = await this.call(`delete ${name}`, () => this.client.delete().key(key).exec());
    if (Number(answer.deleted) === 0) throw new ObjectNotFoundError(name);
    await this.caughtUp(Number(answer.header.revision));
  }

  /**
   * Seeding (`--seed`): creates or updates each given object, in as few transactions as etcd allows. Unlike the memory
   * store it deletes nothing: other members or the admin API may have added objects, and a member restarted with
   * `--seed` must not remove them. Objects whose stored value is already the same are not rewritten.
   */
  async replaceAll(objects: readonly ConfigObject[]): Promise<void> {
    const byName = new Map(objects.map((object) => [object.name, object]));
    const changed = [...byName.values()].filter(
      (object) => this.mirror.get(object.name)?.value !== encodeObject(object),
    );
    let revision = 0;
    for (let start = 0; start < changed.length; start += TXN_CHUNK) {
      const chunk = changed.slice(start, start + TXN_CHUNK);
      const first = this.keys.objectKey(chunk[0]!.name);
      const puts = chunk.map((object) => this.client.put(this.keys.objectKey(object.name)).value(encodeObject(object)));
      // A transaction needs a compare; a version is never -1, so this one always holds.
      const answer = await this.call("seed objects", () =>
        this.client
          .if(first, "Version", "!=", -1)
          .then(...puts)
          .commit(),
      );
      revision = Number(answer.header.revision);
    }
    if (revision > 0) await this.caughtUp(revision);
  }

  onChange(listener: ObjectsListener): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resyncTimer);
    for (const waiter of this.revisionWaiters) waiter.wake();
    this.revisionWaiters = [];
    const watcher = this.watcher;
    this.watcher = undefined;
    // Cancelling waits for etcd's answer; a dead etcd gives none, so only wait a little.
    if (watcher !== undefined) await Promise.race([watcher.cancel().catch(() => undefined), sleep(500)]);
    this.client.close();
  }

  private async firstLoad(startTimeoutMs: number, maxBackoffMs: number): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    const backoff = new Backoff(100, maxBackoffMs);
    let waiting = false;
    // The client's circuit breaker answers "breaker open" once it trips: the error before that says more.
    let telling: string | undefined;
    for (;;) {
      try {
        this.replaceMirror(await this.listAll());
        if (waiting) this.state.set("connected");
        return;
      } catch (error) {
        const reason = (error as Error).message;
        if (!/circuit breaker/i.test(reason)) telling = reason;
        const pause = backoff.next();
        if (Date.now() + pause > deadline) {
          throw new StoreStartTimeoutError(this.endpoints, startTimeoutMs, telling ?? reason);
        }
        if (!waiting) {
          waiting = true;
          this.state.set("unavailable", reason);
          this.log.warn(
            { event: "store_waiting", endpoints: this.endpoints.join(","), timeoutMs: startTimeoutMs },
            `waiting up to ${Math.round(startTimeoutMs / 1000)} s for etcd at ${this.endpoints.join(",")} before giving up`,
          );
        }
        await sleep(pause);
      }
    }
  }

  private async listAll(): Promise<Listing> {
    const answer = await this.client.getAll().prefix(this.keys.objectsPrefix).sort("Create", "Ascend").exec();
    return { revision: Number(answer.header.revision), kvs: answer.kvs };
  }

  private startWatch(): void {
    if (this.closed) return;
    // `watcher()` attaches without waiting for etcd, so this works while etcd is down too.
    const watcher = this.client
      .watch()
      .prefix(this.keys.objectsPrefix)
      .startRevision(String(this.seenRevision + 1))
      .watcher();
    this.watcher = watcher;
    watcher.on("data", (response: IWatchResponse) => this.onWatchData(response));
    watcher.on("disconnected", (error: Error) => {
      this.watchLost = true;
      this.state.set("unavailable", error.message);
    });
    watcher.on("connected", () => {
      // etcd3 resumes the watch from its last revision by itself; listing again also covers what that misses.
      if (!this.watchLost) return;
      this.watchLost = false;
      this.resync();
    });
    // etcd cancelled the watch (e.g. its revision was compacted): list again and watch from there.
    watcher.on("error", (error: Error) => {
      if (this.watcher !== watcher) return;
      this.watcher = undefined;
      this.log.warn({ event: "store_watch_cancelled", reason: error.message }, "etcd cancelled the watch; re-listing");
      this.resync();
    });
  }

  private onWatchData(response: IWatchResponse): void {
    if (this.held !== undefined) {
      this.held.push(...response.events);
      return;
    }
    // Events of one transaction share a revision: each is checked against the mirror as it was before the batch.
    const floor = this.seenRevision;
    let changed = false;
    for (const event of response.events) changed = this.applyEvent(event, floor) || changed;
    if (changed) this.emit();
    this.wakeWaiters();
  }

  /** Lists the prefix again (after a reconnect or a cancelled watch); retries with back-off until it works. */
  private resync(): void {
    if (this.held !== undefined || this.closed) return;
    this.held = [];
    void this.relist();
  }

  private async relist(): Promise<void> {
    let listing: Listing;
    try {
      listing = await this.listAll();
    } catch (error) {
      if (this.closed) return;
      this.state.set("unavailable", (error as Error).message);
      this.resyncTimer = setTimeout(() => void this.relist(), this.resyncBackoff.next());
      return;
    }
    if (this.closed) return;
    const held = this.held ?? [];
    this.held = undefined;
    let changed = this.replaceMirror(listing);
    const floor = this.seenRevision;
    for (const event of held) changed = this.applyEvent(event, floor) || changed;
    this.resyncBackoff.reset();
    this.state.set("connected");
    if (changed) this.emit();
    this.wakeWaiters();
    if (this.watcher === undefined) this.startWatch();
  }

  /** Makes the mirror the listing (keeping the last good version of a broken value); true when anything changed. */
  private replaceMirror(listing: Listing): boolean {
    const next = new Map<string, MirrorEntry>();
    for (const kv of listing.kvs) {
      const name = this.keys.objectName(kv.key.toString());
      if (name === undefined) continue;
      const entry = this.decode(name, kv) ?? this.mirror.get(name);
      if (entry !== undefined) next.set(name, entry);
    }
    const before = signature(this.mirror);
    this.mirror = next;
    this.seenRevision = Math.max(this.seenRevision, listing.revision);
    return signature(next) !== before;
  }

  /**
   * Applies one watch event newer than `floor` (the revision the mirror reflected before this batch: a transaction's
   * events all carry its revision); true when the set changed.
   */
  private applyEvent(event: IEvent, floor: number): boolean {
    const revision = Number(event.kv.mod_revision);
    if (revision <= floor) return false;
    this.seenRevision = Math.max(this.seenRevision, revision);
    const name = this.keys.objectName(event.kv.key.toString());
    if (name === undefined) return false;
    if (event.type === "Delete") return this.mirror.delete(name);
    const entry = this.decode(name, event.kv);
    if (entry === undefined) return false;
    this.mirror.set(name, entry);
    return true;
  }

  private decode(name: string, kv: IKeyValue): MirrorEntry | undefined {
    const value = kv.value.toString();
    const object = decodeObject(name, value);
    if (typeof object !== "string") return { object, revision: Number(kv.mod_revision), value };
    const id = `${kv.key.toString()}@${kv.mod_revision}`;
    if (!this.reported.has(id)) {
      this.reported.add(id);
      this.log.error(
        { event: "store_bad_value", key: kv.key.toString(), revision: Number(kv.mod_revision), reason: object },
        "skipping a stored value that is not a valid object (keeping the last good version, if any)",
      );
    }
    return undefined;
  }

  private emit(): void {
    const objects = [...this.mirror.values()].map((entry) => entry.object);
    for (const listener of this.listeners) {
      try {
        listener(objects);
      } catch (error) {
        // A listener's bug must not stop the watch: the other listeners and later changes still count.
        this.log.error({ event: "store_listener_failed", err: error }, "a store listener threw");
      }
    }
  }

  private async written(object: ConfigObject, revision: number): Promise<StoredObject> {
    await this.caughtUp(revision);
    return { object, revision };
  }

  /** Resolves once the watch has delivered `revision` (so listeners ran), or after the call timeout. */
  private caughtUp(revision: number): Promise<void> {
    if (this.seenRevision >= revision || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.revisionWaiters = this.revisionWaiters.filter((waiter) => waiter.wake !== wake);
        this.log.debug({ event: "store_watch_lagging", revision }, "a write was not seen on the watch in time");
        resolve();
      }, this.callTimeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.revisionWaiters.push({ revision, wake });
    });
  }

  private wakeWaiters(): void {
    const due = this.revisionWaiters.filter((waiter) => waiter.revision <= this.seenRevision);
    if (due.length === 0) return;
    this.revisionWaiters = this.revisionWaiters.filter((waiter) => waiter.revision > this.seenRevision);
    for (const waiter of due) waiter.wake();
  }

  /** Runs one etcd call; an etcd failure becomes StoreUnavailableError (503) with the reason. */
  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError(what, "the store is closed");
    try {
      return await run();
    } catch (error) {
      if (error instanceof ObjectStoreError) throw error;
      throw new StoreUnavailableError(what, (error as Error).message);
    }
  }
}

/** Names, revisions and order: what listeners would see differently. */
function signature(mirror: ReadonlyMap<string, MirrorEntry>): string {
  return [...mirror.values()].map((entry) => `${entry.object.name}@${entry.revision}`).join(",");
}
