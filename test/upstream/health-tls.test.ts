// Checks of wss:// servers go over TLS with the settings the pool resolves for the server (the same CA its
// sessions trust): with them the check passes, without them an untrusted certificate fails it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { HttpCheck } from "../../src/upstream/health/http-check.js";
import type { HttpCheckSpec, WsCheckSpec } from "../../src/upstream/health/types.js";
import { WsCheck } from "../../src/upstream/health/ws-check.js";
import { UpstreamServer } from "../../src/upstream/server.js";
import { TestPki, startWssBackend, type WssBackend } from "../helpers/certs.js";

const spec: WsCheckSpec = { headers: {}, uri: "/", match: { statusCodes: [[101, 101]], headers: [] } };

describe("ws check over TLS", () => {
  let pki: TestPki;
  let backend: WssBackend;
  let server: UpstreamServer;

  before(async () => {
    pki = await TestPki.create();
    backend = await startWssBackend({ cert: await pki.issue({ cn: "backend.test", ips: ["127.0.0.1"] }) });
    server = new UpstreamServer({ url: `wss://127.0.0.1:${backend.port}`, weight: 0, keepHost: false, tags: [] });
  });

  after(async () => {
    await backend?.close();
  });

  it("passes with the server's TLS settings and fails on an untrusted certificate without them", async () => {
    const signal = new AbortController().signal;
    const trusted = new WsCheck(spec, (target) => (target === server ? { ca: pki.ca.cert } : undefined));
    assert.deepEqual(await trusted.run(server, 2000, signal), { ok: true });
    assert.equal(backend.upgrades.length, 1, "the check reached the backend over TLS");
    const untrusted = await new WsCheck(spec).run(server, 2000, signal);
    assert.equal(untrusted.ok, false);
    assert.match(untrusted.ok ? "" : untrusted.reason, /^ws check: .*(certificate|issuer)/);
  });

  it("checks over HTTP through the same dial and TLS path: trusted passes, untrusted fails naming the certificate", async () => {
    const signal = new AbortController().signal;
    const httpSpec: HttpCheckSpec = {
      method: "GET",
      headers: {},
      uri: "/health",
      match: { statusCodes: [[200, 299]], headers: [] },
    };
    const trusted = new HttpCheck(httpSpec, (target) => (target === server ? { ca: pki.ca.cert } : undefined));
    assert.deepEqual(await trusted.run(server, 2000, signal), { ok: true });
    const untrusted = await new HttpCheck(httpSpec).run(server, 2000, signal);
    assert.equal(untrusted.ok, false);
    assert.match(untrusted.ok ? "" : untrusted.reason, /^http check: .*(certificate|issuer)/);
  });
});
