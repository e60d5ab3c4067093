// The one-pass backend request head against the general path (upstreamRequestHeaders, the compression strip, then
// upgradeRequestHead): on every request of the table it writes the same bytes, or declines (undefined) and leaves the
// request to the general path. The common requests must take the one pass, or the test would prove nothing.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { withoutCompressionOffers } from "../../../src/filters/websocket-proxy/deflate-offer.js";
import { upstreamRequestHead } from "../../../src/filters/websocket-proxy/upstream-head.js";
import {
  upstreamRequestHeaders,
  type UpstreamHeaderInput,
} from "../../../src/filters/websocket-proxy/upstream-headers.js";
import { OwnedHeaders } from "../../../src/pipeline/owned-headers.js";
import { UpstreamServer } from "../../../src/upstream/server.js";
import { upgradeRequestHead } from "../../../src/websocket/upgrade-response.js";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const BASE = [
  "Host",
  "gw.example:8080",
  "Upgrade",
  "websocket",
  "Connection",
  "Upgrade",
  "Sec-WebSocket-Key",
  KEY,
  "Sec-WebSocket-Version",
  "13",
];

/** A request as Node's parser gives it: raw pairs, and `headers` lower-cased with repeats joined. */
function request(raw: string[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { rawHeaders: raw, headers } as unknown as IncomingMessage;
}

interface Case {
  name: string;
  raw: string[];
  /** The one pass must take it. */
  fast: boolean;
  target?: string;
  strip?: boolean;
  keepHost?: boolean;
  trusted?: boolean;
  extra?: Array<[string, string]>;
  defaultOrigin?: string;
  owned?: string[];
}

const CASES: Case[] = [
  { name: "a ws client", raw: [...BASE], fast: true },
  {
    name: "a browser: extensions stripped, origin, user agent, cookies",
    raw: [
      ...BASE,
      "Sec-WebSocket-Extensions",
      "permessage-deflate; client_max_window_bits",
      "Origin",
      "https://app",
      "User-Agent",
      "Mozilla/5.0 (X11)",
      "Cookie",
      "a=1",
      "Cookie",
      "b=2",
    ],
    fast: true,
  },
  {
    name: "extensions kept when not stripping, others kept when stripping",
    raw: [
      ...BASE,
      "Sec-WebSocket-Extensions",
      'permessage-deflate, x-custom; p="a,b"',
      "sec-websocket-protocol",
      "a, b",
    ],
    fast: true,
    strip: false,
  },
  {
    name: "an extension list left empty",
    raw: [...BASE, "Sec-WebSocket-Extensions", "x-webkit-deflate-frame"],
    fast: true,
  },
  { name: "default origin", raw: [...BASE], fast: true, defaultOrigin: "http://127.0.0.1/hello" },
  {
    name: "client origin wins over the default",
    raw: [...BASE, "origin", "http://x"],
    fast: true,
    defaultOrigin: "http://d",
  },
  {
    name: "the client's forwarding headers, owned headers in any spelling, hop-by-hop and proxy-* dropped",
    raw: [
      ...BASE,
      "X-Forwarded-For",
      "10.0.0.1",
      "x_forwarded_host",
      "evil",
      "Forwarded",
      "for=1",
      "X-Real-IP",
      "1",
      "X-User",
      "mallory",
      "x_user",
      "m2",
      "X-USER",
      "m3",
      "Keep-Alive",
      "5",
      "TE",
      "trailers",
      "Proxy-Foo",
      "1",
      "Proxy-Authorization",
      "Basic x",
      "Trailer",
      "x",
      "X-Kept",
      "yes",
    ],
    fast: true,
    owned: ["X-User"],
  },
  {
    name: "Connection naming keep-alive too (Firefox)",
    raw: [...BASE.slice(0, 4), "Connection", "keep-alive, Upgrade", ...BASE.slice(6)],
    fast: true,
  },
  { name: "keepHost", raw: [...BASE], fast: true, keepHost: true },
  { name: "a query target", raw: [...BASE], fast: true, target: "/chat?room=1&x=%20" },
  {
    name: "Connection naming an end-to-end header",
    raw: [...BASE.slice(0, 4), "Connection", "Upgrade, X-Hop", ...BASE.slice(6), "X-Hop", "1"],
    fast: false,
  },
  { name: "a Content-Length: 0", raw: [...BASE, "Content-Length", "0"], fast: false },
  { name: "a non-ASCII value", raw: [...BASE, "X-Latin", "caf\u00e9"], fast: false },
  { name: "a control character in a value", raw: [...BASE, "X-Tab", "a\tb"], fast: false },
  { name: "a target Node would refuse", raw: [...BASE], fast: false, target: "/a b" },
  { name: "a trusted proxy in front", raw: [...BASE, "X-Forwarded-For", "10.0.0.1"], fast: false, trusted: true },
  { name: "headers set by filters", raw: [...BASE], fast: false, extra: [["X-Claim", "1"]] },
];

describe("upstreamRequestHead (one pass) against the general path", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const owned = new OwnedHeaders();
      for (const name of c.owned ?? []) owned.own(name);
      const input: UpstreamHeaderInput = {
        req: request(c.raw),
        server: new UpstreamServer({ url: "ws://10.1.2.3:9000", weight: 1, keepHost: c.keepHost ?? false, tags: [] }),
        clientIp: "192.0.2.7",
        peer: { address: "192.0.2.7", trusted: c.trusted ?? false },
        secure: false,
        key: KEY,
        defaultOrigin: c.defaultOrigin,
        extra: c.extra ?? [],
        owned,
      };
      const target = c.target ?? "/ws";
      const strip = c.strip ?? true;
      const all = upstreamRequestHeaders(input);
      const general = upgradeRequestHead(target, strip ? withoutCompressionOffers(all) : all);
      const fast = upstreamRequestHead(input, target, strip);
      if (c.fast) {
        assert.ok(fast !== undefined, "the one pass takes this request");
        assert.equal(fast, general);
      } else {
        assert.equal(fast, undefined, "the one pass leaves this request to the general path");
      }
    });
  }
});
