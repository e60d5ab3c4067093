import { createHash, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { acquireBcryptPool, releaseBcryptPool, type BcryptPool } from "./bcrypt-pool.js";
import { VerifiedCache } from "./verified-cache.js";

/** Successful verifications remembered at most (about 150 bytes each). */
const CACHE_ENTRIES = 10_000;

const BCRYPT = /^\$2[aby]\$(\d\d)\$/;

/** A well-formed bcrypt hash (salt and digest of 53 characters) that no password is known to match. */
const DECOY_BCRYPT_TAIL = "wsgateDecoySaltForUnkn.OwnUsersWhoseTimingMustMatch.";

/** A {SHA} entry no password is known to match (the SHA-1 of some input would have to be all zeros). */
const DECOY_SHA = `{SHA}${Buffer.alloc(20).toString("base64")}`;

/**
 * The entry an unknown user (or one whose scheme is refused) is checked against, so that the answer costs what a
 * known user's costs: bcrypt at the file's most common cost, or {SHA} when that is the file's usual scheme.
 */
function decoyEntry(entries: Iterable<string>): string {
  const counts = new Map<string, number>();
  for (const entry of entries) {
    const cost = BCRYPT.exec(entry)?.[1];
    const kind = cost !== undefined ? cost : entry.startsWith("{SHA}") ? "sha" : undefined;
    if (kind !== undefined) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  let typical = "sha";
  let most = 0;
  for (const [kind, count] of counts) {
    if (count > most) [typical, most] = [kind, count];
  }
  return typical === "sha" ? DECOY_SHA : `$2b$${typical}$${DECOY_BCRYPT_TAIL.padEnd(53, ".").slice(0, 53)}`;
}

/**
 * The cache key of one attempt: SHA-256 over the stored entry, then user and password. The entry cannot hold a line
 * break and the user cannot hold a colon, so no two attempts share a key; a new hash in the file means a new key.
 */
function attemptKey(user: string, password: string, entry: string): string {
  return createHash("sha256").update(`${entry}\n${user}:${password}`).digest("base64");
}

function shaMatches(password: string, entry: string): boolean {
  const expected = Buffer.from(entry.slice(5), "base64");
  const actual = createHash("sha1").update(password).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * Users of an htpasswd file (bcrypt `$2y$`/`$2a$`/`$2b$` or `{SHA}` entries), read again when the file's
 * modification time or size changes (checked at most once a second). bcrypt runs on the shared worker pool; an
 * unknown user costs what a known one does; successes are remembered for `cacheTtlMs`.
 */
export class HtpasswdFile {
  private users = new Map<string, string>();
  private decoy = DECOY_SHA;
  private version = "";
  private checkedAt = 0;
  private readonly pool: BcryptPool;
  private readonly verified: VerifiedCache;
  /** Checks under way by key: the same attempt arriving again waits for the one running. */
  private readonly running = new Map<string, Promise<boolean>>();
  private closed = false;

  constructor(
    private readonly path: string,
    cacheTtlMs: number,
  ) {
    this.pool = acquireBcryptPool();
    this.verified = new VerifiedCache(cacheTtlMs, CACHE_ENTRIES);
  }

  /**
   * Whether `user` / `password` match an entry. The file's problems throw (the filter answers 500 for them); a full
   * queue of checks rejects with CredentialCheckBusyError (503).
   */
  async check(user: string, password: string): Promise<boolean> {
    await this.refresh();
    const known = this.users.get(user);
    const usable = known !== undefined && (BCRYPT.test(known) || known.startsWith("{SHA}"));
    // Other schemes (MD5 apr1, crypt, plain) are refused, they are too weak to trust; they still cost the decoy.
    const entry = usable ? known : this.decoy;
    const key = attemptKey(user, password, entry);
    if (this.verified.has(key)) return true;
    let pending = this.running.get(key);
    if (pending === undefined) {
      pending = this.matches(password, entry).finally(() => this.running.delete(key));
      this.running.set(key, pending);
    }
    const match = (await pending) && usable;
    if (match) this.verified.add(key);
    return match;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    releaseBcryptPool();
  }

  private matches(password: string, entry: string): Promise<boolean> {
    if (entry.startsWith("{SHA}")) return Promise.resolve(shaMatches(password, entry));
    return this.pool.compare(password, entry);
  }

  private async refresh(): Promise<void> {
    const now = Date.now();
    if (this.version !== "" && now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    const info = await stat(this.path);
    const version = `${info.mtimeMs}:${info.size}`;
    if (version === this.version) return;
    const users = new Map<string, string>();
    for (const line of (await readFile(this.path, "utf8")).split(/\r?\n/)) {
      const text = line.trim();
      if (text === "" || text.startsWith("#")) continue;
      const colon = text.indexOf(":");
      if (colon > 0) users.set(text.slice(0, colon), text.slice(colon + 1));
    }
    this.users = users;
    this.decoy = decoyEntry(users.values());
    this.version = version;
  }
}

// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * User and password of an `Authorization: Basic` header, if well-formed. Control characters are refused (RFC 7617
 * forbids them): bcryptjs would read `P\0P` as `P`, and an empty password's hash would match `\0`.
 */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = header === undefined ? null : /^Basic[ \t]+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  if (CONTROL_CHARACTERS.test(decoded)) return undefined;
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
