/**
 * Credentials that passed recently, so that a client opening many connections pays bcrypt once a minute, not once a
 * connection. Keys are SHA-256 digests (the password is never kept); entries expire after `ttlMs`, the least
 * recently used goes first when full. Only successes are ever added.
 */
export class VerifiedCache {
  /** Key → when it expires (ms since the epoch); Map order is the LRU order, oldest first. */
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  has(key: string, now = Date.now()): boolean {
    const expires = this.entries.get(key);
    if (expires === undefined) return false;
    this.entries.delete(key);
    if (expires <= now) return false;
    this.entries.set(key, expires);
    return true;
  }

  add(key: string, now = Date.now()): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, now + this.ttlMs);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
