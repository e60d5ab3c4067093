// The dashboard page and its files, served by the admin listener from the package (dist/dashboard/, copied there at
// build time: no CDN, it works offline). Every answer carries a Content-Security-Policy that allows scripts, styles
// and connections from this origin only. The page is never stored (it names the current files by content hash); a
// file asked for by its current hash is immutable, any other answer is revalidated with its ETag.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AdminMethodNotAllowedError, PathNotFoundError } from "../errors.js";
import { DashboardNotBuiltError } from "./errors.js";

export const DASHBOARD_PATH = "/dashboard";
const ASSETS_PREFIX = "/dashboard/assets/";

/** dist/src/admin/dashboard/assets.js → dist/dashboard/. */
const DEFAULT_DIR = fileURLToPath(new URL("../../../dashboard/", import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const COMMON_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": DASHBOARD_CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

interface Asset {
  body: Buffer;
  contentType: string;
  hash: string;
}

/** `{{v:NAME}}` in the page becomes NAME's content hash. */
const VERSION_MARK = /\{\{v:([A-Za-z0-9._-]+)\}\}/g;

/** Whether `path` is the dashboard's (the page or one of its files): served before the token is asked for. */
export function isDashboardPath(path: string): boolean {
  return path === DASHBOARD_PATH || path === `${DASHBOARD_PATH}/` || path.startsWith(ASSETS_PREFIX);
}

export class DashboardAssets {
  private assets: Map<string, Asset> | undefined;
  private page: Asset | undefined;

  constructor(private readonly dir = DEFAULT_DIR) {}

  /** Answers a dashboard path (see isDashboardPath); throws an AdminError for a wrong method or an unknown file. */
  serve(request: IncomingMessage, response: ServerResponse, path: string, query: URLSearchParams): void {
    const method = request.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") throw new AdminMethodNotAllowedError(method, ["GET", "HEAD"]);
    const { assets, page } = this.load();
    if (!path.startsWith(ASSETS_PREFIX)) {
      this.write(request, response, page, { "Cache-Control": "no-store" });
      return;
    }
    const asset = assets.get(path.slice(ASSETS_PREFIX.length));
    if (asset === undefined) throw new PathNotFoundError(path);
    const etag = `"${asset.hash}"`;
    const current = query.get("v") === asset.hash;
    const headers = {
      "Cache-Control": current ? "public, max-age=31536000, immutable" : "no-cache",
      ETag: etag,
    };
    if (request.headers["if-none-match"] === etag) {
      response.writeHead(304, { ...COMMON_HEADERS, ...headers });
      response.end();
      return;
    }
    this.write(request, response, asset, headers);
  }

  private write(
    request: IncomingMessage,
    response: ServerResponse,
    asset: Asset,
    headers: Record<string, string>,
  ): void {
    response.writeHead(200, {
      ...COMMON_HEADERS,
      ...headers,
      "Content-Type": asset.contentType,
      "Content-Length": String(asset.body.length),
    });
    response.end(request.method === "HEAD" ? undefined : asset.body);
  }

  /** Read once, on the first request: the files do not change under a running process. */
  private load(): { assets: Map<string, Asset>; page: Asset } {
    if (this.assets !== undefined && this.page !== undefined) return { assets: this.assets, page: this.page };
    const assets = new Map<string, Asset>();
    let html: string;
    try {
      for (const name of readdirSync(join(this.dir, "assets"))) {
        const contentType = CONTENT_TYPES[extname(name)];
        if (contentType === undefined) continue;
        const body = readFileSync(join(this.dir, "assets", name));
        assets.set(name, { body, contentType, hash: hashOf(body) });
      }
      html = readFileSync(join(this.dir, "index.html"), "utf8");
    } catch {
      throw new DashboardNotBuiltError(this.dir);
    }
    const body = Buffer.from(html.replace(VERSION_MARK, (_, name: string) => assets.get(name)?.hash ?? "missing"));
    this.page = { body, contentType: CONTENT_TYPES[".html"] ?? "text/html", hash: hashOf(body) };
    this.assets = assets;
    return { assets, page: this.page };
  }
}

function hashOf(body: Buffer): string {
  return createHash("sha256").update(body).digest("hex").slice(0, 16);
}
