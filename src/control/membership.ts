import { hostname } from "node:os";
import type { Etcd3, Lease } from "etcd3";
import { StoreUnavailableError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { Backoff, DEFAULT_MAX_BACKOFF_MS } from "./backoff.js";
import { NAME_PATTERN } from "../schema/common-fields.js";
import { ClusterKeys } from "./etcd-keys.js";

/** One member as `GET /apis/v2/members` and `wsgate members` show it. */
export interface MemberInfo {
  id: string;
  /** The address the gateway's servers bind to. */
  address: string;
  adminAddress?: string;
  version: string;
  startedAt: string;
  /** Live WebSocket sessions, as of the last refresh. */
  sessions: number;
}

export interface MembershipOptions {
  /** Usually the store's client (EtcdObjectStore.client); Membership does not close it. */
  client: Etcd3;
  cluster: string;
  id: string;
  address: string;
  adminAddress?: string;
  version: string;
  sessionCount: () => number;
  log: Logger;
  /** The lease's TTL: how long a member that died stays listed. */
  ttlSeconds?: number;
  /** How often the session count is written (when it changed). */
  refreshMs?: number;
  maxBackoffMs?: number;
}

export const DEFAULT_MEMBER_TTL_SECONDS = 10;
export const DEFAULT_MEMBER_REFRESH_MS = 3000;

export class MemberIdError extends Error {
  constructor(id: string) {
    super(`invalid member id '${id}' (use letters, digits, '.', '_' and '-', starting with a letter or digit)`);
  }
}

/** A member id that is unique enough on one network: host name and process id. */
export function defaultMemberId(): string {
  return `${hostname().replace(/[^A-Za-z0-9._-]/g, "-")}-${process.pid}`;
}

/**
 * This member's entry under `/wsgate/<cluster>/members/<id>`, held by a lease that etcd3 keeps alive: a member that
 * dies disappears when the lease expires. When the lease is lost (etcd was away longer than the TTL) the member
 * registers again, with capped back-off, until it is back.
 */
export class Membership {
  private readonly keys: ClusterKeys;
  private readonly key: string;
  private readonly startedAt = new Date().toISOString();
  private readonly backoff: Backoff;
  private lease: Lease | undefined;
  private written: string | undefined;
  private registered = false;
  private stopped = false;
  private refreshTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly options: MembershipOptions) {
    this.keys = new ClusterKeys(options.cluster);
    if (!NAME_PATTERN.test(options.id)) throw new MemberIdError(options.id);
    this.key = this.keys.memberKey(options.id);
    this.backoff = new Backoff(200, options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS);
  }

  /** Registers this member (retrying in the background if etcd is away) and keeps its entry current. */
  static async join(options: MembershipOptions): Promise<Membership> {
    const membership = new Membership(options);
    await membership.register();
    const refresh = setInterval(() => void membership.refresh(), options.refreshMs ?? DEFAULT_MEMBER_REFRESH_MS);
    refresh.unref();
    membership.refreshTimer = refresh;
    return membership;
  }

  get id(): string {
    return this.options.id;
  }

  /** Every member whose lease is alive, by id; entries that are not valid JSON are skipped. */
  async listMembers(): Promise<MemberInfo[]> {
    return listMembers(this.options.client, this.options.cluster);
  }

  /** Leaves the cluster: the entry goes at once. */
  async close(): Promise<void> {
    const lease = this.stop();
    if (lease === undefined) return;
    try {
      await lease.revoke();
    } catch (error) {
      // etcd is away: the entry goes when the lease expires instead.
      this.options.log.debug({ event: "member_revoke_failed", reason: (error as Error).message }, "could not revoke");
    }
  }

  /** Stops refreshing without revoking, as a crashed member would: the entry goes when the lease expires. */
  abandon(): void {
    this.stop()?.release();
  }

  private stop(): Lease | undefined {
    this.stopped = true;
    clearInterval(this.refreshTimer);
    clearTimeout(this.retryTimer);
    const lease = this.lease;
    this.lease = undefined;
    return lease;
  }

  private info(): string {
    const { id, address, adminAddress, version, sessionCount } = this.options;
    const member: MemberInfo = { id, address, adminAddress, version, startedAt: this.startedAt, sessions: 0 };
    try {
      member.sessions = sessionCount();
    } catch {
      // A broken counter must not stop the heartbeat; 0 is the honest "unknown".
    }
    return JSON.stringify(member);
  }

  private async register(): Promise<void> {
    if (this.stopped) return;
    const ttl = this.options.ttlSeconds ?? DEFAULT_MEMBER_TTL_SECONDS;
    const lease = this.options.client.lease(ttl);
    this.lease = lease;
    // Fired when the grant fails or etcd says the lease expired: register again.
    lease.on("lost", (error: Error) => this.lost(lease, error.message));
    const value = this.info();
    try {
      await lease.put(this.key).value(value).exec();
      if (this.lease !== lease) return;
      this.written = value;
      this.backoff.reset();
      this.setRegistered(true);
    } catch (error) {
      this.lost(lease, (error as Error).message);
    }
  }

  private lost(lease: Lease, reason: string): void {
    if (this.lease !== lease || this.stopped) return;
    this.lease = undefined;
    lease.release();
    this.setRegistered(false, reason);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.register(), this.backoff.next());
    this.retryTimer.unref();
  }

  private async refresh(): Promise<void> {
    const lease = this.lease;
    if (lease === undefined || !this.registered) return;
    const value = this.info();
    if (value === this.written) return;
    try {
      await lease.put(this.key).value(value).exec();
      this.written = value;
    } catch (error) {
      // Lease trouble comes back through "lost"; anything else is retried at the next refresh.
      this.options.log.debug({ event: "member_refresh_failed", reason: (error as Error).message }, "refresh failed");
    }
  }

  private setRegistered(registered: boolean, reason?: string): void {
    if (registered === this.registered) return;
    this.registered = registered;
    const line = { event: "member_state", member: this.options.id, registered, reason };
    if (registered) this.options.log.info(line, "registered as a cluster member");
    else this.options.log.warn(line, "cluster membership lost; registering again when etcd answers");
  }
}

/** The members of `cluster` with a live lease, by id. */
export async function listMembers(client: Etcd3, cluster: string): Promise<MemberInfo[]> {
  const keys = new ClusterKeys(cluster);
  let values: Record<string, string>;
  try {
    values = await client.getAll().prefix(keys.membersPrefix).strings();
  } catch (error) {
    throw new StoreUnavailableError("list members", (error as Error).message);
  }
  const members: MemberInfo[] = [];
  for (const value of Object.values(values)) {
    const member = parseMember(value);
    if (member !== undefined) members.push(member);
  }
  return members.sort((a, b) => a.id.localeCompare(b.id));
}

function parseMember(value: string): MemberInfo | undefined {
  try {
    const member = JSON.parse(value) as Partial<MemberInfo> | null;
    if (typeof member?.id !== "string" || typeof member.address !== "string") return undefined;
    return member as MemberInfo;
  } catch {
    return undefined;
  }
}
