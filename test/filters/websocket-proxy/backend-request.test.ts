// The WebSocketProxy's backend upgrade request: the one-pass head for the common request, the header list built only
// when read and the same as the general path's, and no accessor of its own on each request object (an object literal's
// `get headers()` put a per-request getter closure into the hidden class, in the old generation, and every try's
// graph was promoted: see backend-request.ts).
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { BackendUpgradeRequest } from "../../../src/filters/websocket-proxy/backend-request.js";
import { withoutCompressionOffers } from "../../../src/filters/websocket-proxy/deflate-offer.js";
import { upstreamRequestHead } from "../../../src/filters/websocket-proxy/upstream-head.js";
import {
  upstreamRequestHeaders,
  type UpstreamHeaderInput,
} from "../../../src/filters/websocket-proxy/upstream-headers.js";
import { OwnedHeaders } from "../../../src/pipeline/owned-headers.js";
import { UpstreamServer } from "../../../src/upstream/server.js";
import { withClientCertHeaders } from "../../../src/util/http/client-cert.js";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const RAW = [
  ...["Host", "gw.example:8080", "Upgrade", "websocket", "Connection", "Upgrade"],
  ...["Sec-WebSocket-Key", KEY, "Sec-WebSocket-Version", "13"],
  ...["Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits, x-custom", "User-Agent", "t/1"],
];

function inputFor(): UpstreamHeaderInput {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < RAW.length; i += 2) headers[(RAW[i] as string).toLowerCase()] = RAW[i + 1] as string;
  const server = new UpstreamServer({ url: "ws://10.1.2.3:9000", weight: 1, keepHost: false, tags: [] });
  return {
    req: { rawHeaders: RAW, headers } as unknown as IncomingMessage,
    server,
    clientIp: "192.0.2.7",
    peer: { address: "192.0.2.7", trusted: false },
    secure: false,
    key: KEY,
    defaultOrigin: undefined,
    extra: [],
    owned: new OwnedHeaders(),
  };
}

function requestFor(input: UpstreamHeaderInput, certHeaders?: { names: string[]; values: Array<[string, string]> }) {
  const { url } = input.server;
  return new BackendUpgradeRequest(
    url,
    "10.1.2.3:9000",
    "/ws",
    input,
    certHeaders,
    true,
    1000,
    2000,
    undefined,
    undefined,
  );
}

describe("BackendUpgradeRequest", () => {
  it("has no accessor of its own: `headers` is the prototype's getter, the same for every request", () => {
    const a = requestFor(inputFor());
    const b = requestFor(inputFor());
    assert.equal(Object.getOwnPropertyDescriptor(a, "headers"), undefined);
    assert.equal(Object.getOwnPropertyDescriptor(b, "headers"), undefined);
    const getter = Object.getOwnPropertyDescriptor(BackendUpgradeRequest.prototype, "headers")?.get;
    assert.equal(typeof getter, "function");
    for (const request of [a, b]) {
      for (const name of Object.getOwnPropertyNames(request)) {
        const own = Object.getOwnPropertyDescriptor(request, name);
        assert.equal(own?.get, undefined, `${name} is an own accessor`);
      }
    }
  });

  it("carries the one-pass head for the common request, and the general path's header list when read (built once)", () => {
    const input = inputFor();
    const request = requestFor(input);
    assert.equal(request.head, upstreamRequestHead(input, "/ws", true));
    assert.notEqual(request.head, undefined);
    const headers = request.headers;
    assert.deepEqual(headers, withoutCompressionOffers(upstreamRequestHeaders(input)));
    assert.equal(request.headers, headers);
    assert.ok(!headers.some(([, value]) => value.includes("permessage-deflate")));
  });

  it("leaves a request with client-certificate headers to the general path, those headers included", () => {
    const input = inputFor();
    const cert = {
      names: ["X-Client-Cert-Subject"],
      values: [["X-Client-Cert-Subject", "CN=a"]] as Array<[string, string]>,
    };
    const request = requestFor(input, cert);
    assert.equal(request.head, undefined);
    assert.deepEqual(
      request.headers,
      withoutCompressionOffers(withClientCertHeaders(upstreamRequestHeaders(input), cert)),
    );
  });
});
