import { createHash, timingSafeEqual } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import bcrypt from "bcryptjs";

/**
 * Users of an htpasswd file (bcrypt `$2y$`/`$2a$`/`$2b$` or `{SHA}` entries), read again when the file's
 * modification time or size changes (checked at most once a second).
 */
export class HtpasswdFile {
  private users = new Map<string, string>();
  private version = "";
  private checkedAt = 0;

  constructor(private readonly path: string) {}

  /** Whether `user` / `password` match an entry; the file's problems throw (the filter answers 500 for them). */
  async check(user: string, password: string): Promise<boolean> {
    await this.refresh();
    const hash = this.users.get(user);
    if (hash === undefined) return false;
    if (/^\$2[aby]\$/.test(hash)) return bcrypt.compare(password, hash);
    if (hash.startsWith("{SHA}")) {
      const expected = Buffer.from(hash.slice(5), "base64");
      const actual = createHash("sha1").update(password).digest();
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    }
    // Other schemes (MD5 apr1, crypt, plain) are refused: they are too weak to trust.
    return false;
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
    this.version = version;
  }
}

/** User and password of an `Authorization: Basic` header, if well-formed. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  const match = header === undefined ? null : /^Basic[ \t]+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (match?.[1] === undefined) return undefined;
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
