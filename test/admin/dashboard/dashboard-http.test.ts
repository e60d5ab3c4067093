// The dashboard over plain HTTP against the real CLI: its page and files with their CSP and caching, its stream
// behind the token and the listener's Origin check, and the stream's content: history, then a sample and the state
// every second, which count a live session.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { admin, echoConfig } from "../../helpers/admin.js";
import { startBackend, type TestBackend } from "../../helpers/backends.js";
import { GatewayProcess } from "../../helpers/gateway-process.js";
import { freePort, withTimeout } from "../../helpers/net.js";

const TOKEN = "dashboard-http-token";

/** Reads server-sent events from the stream until `enough` says so (or 10 s pass). */
async function readEvents(
  port: number,
  enough: (events: Array<{ name: string; data: unknown }>) => boolean,
): Promise<Array<{ name: string; data: unknown }>> {
  const abort = new AbortController();
  const events: Array<{ name: string; data: unknown }> = [];
  const reading = (async () => {
    const response = await fetch(`http://127.0.0.1:${port}/apis/v2/dashboard/stream`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
      signal: abort.signal,
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.equal(response.headers.get("cache-control"), "no-store");
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
        const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null") as unknown;
        events.push({ name, data });
        if (enough(events)) return events;
        end = buffer.indexOf("\n\n");
      }
    }
    return events;
  })();
  try {
    return await withTimeout(reading, 10_000, "dashboard events");
  } finally {
    abort.abort();
  }
}

describe("dashboard over HTTP", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(echoConfig(port, backend.port), {
      admin: true,
      args: ["--admin-token", TOKEN],
    });
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("serves the page without the token, never stored, with a CSP that allows only this origin's scripts", async () => {
    const page = await admin(gateway.adminPort, "GET", "/dashboard");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(page.headers.get("cache-control"), "no-store");
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(page.text, /<script>|\son[a-z]+=|https?:\/\//, "no inline script, no handler, no CDN");
    assert.doesNotMatch(page.text, /\{\{v:/, "every file is named by its hash");
  });

  it("serves a file asked for by its hash as immutable, any other way revalidated by ETag", async () => {
    const page = await admin(gateway.adminPort, "GET", "/dashboard");
    const src = /src="(\/dashboard\/assets\/uPlot\.iife\.min\.js\?v=[0-9a-f]+)"/.exec(page.text)?.[1];
    assert.ok(src !== undefined, "the page loads uPlot from the package");
    const pinned = await admin(gateway.adminPort, "GET", src);
    assert.equal(pinned.status, 200);
    assert.match(pinned.headers.get("cache-control") ?? "", /immutable/);
    assert.match(pinned.headers.get("content-type") ?? "", /^text\/javascript/);
    const plain = await admin(gateway.adminPort, "GET", "/dashboard/assets/uPlot.iife.min.js");
    assert.equal(plain.headers.get("cache-control"), "no-cache");
    const etag = plain.headers.get("etag") ?? "";
    const again = await admin(gateway.adminPort, "GET", "/dashboard/assets/uPlot.iife.min.js", {
      headers: { "If-None-Match": etag },
    });
    assert.equal(again.status, 304);
    assert.equal((await admin(gateway.adminPort, "GET", "/dashboard/assets/..%2Findex.html")).status, 404);
    assert.equal((await admin(gateway.adminPort, "GET", "/dashboard/assets/nothing.js")).status, 404);
    assert.equal((await admin(gateway.adminPort, "POST", "/dashboard")).status, 405);
  });

  it("refuses the stream without the token, with a wrong one, and from a foreign page", async () => {
    assert.equal((await admin(gateway.adminPort, "GET", "/apis/v2/dashboard/stream")).status, 401);
    assert.equal((await admin(gateway.adminPort, "GET", "/apis/v2/dashboard/stream", { token: "nope" })).status, 401);
    const foreign = await admin(gateway.adminPort, "GET", "/apis/v2/dashboard/stream", {
      token: TOKEN,
      headers: { Origin: "http://evil.example" },
    });
    assert.equal(foreign.status, 403);
    const page = await admin(gateway.adminPort, "GET", "/dashboard", { headers: { Origin: "http://evil.example" } });
    assert.equal(page.status, 403, "the page is behind the Origin check too");
  });

  it("streams the history, then a sample and the state every second, counting a live session", async () => {
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await withTimeout(new Promise((resolve) => client.once("open", resolve)), 5000, "ws open");
    try {
      const events = await readEvents(gateway.adminPort, (seen) => seen.filter((e) => e.name === "state").length >= 2);
      assert.equal(events[0]?.name, "history");
      const state = events.findLast((event) => event.name === "state")?.data as {
        sessionCount: number;
        counts: { servers: Record<string, number> };
        objects: Array<{ name: string; revision: number }>;
        pools: Array<{ servers: Array<{ backend: string }> }>;
      };
      assert.equal(state.sessionCount, 1);
      assert.deepEqual(state.counts.servers, { edge: 1 });
      assert.deepEqual(
        state.objects.map((object) => object.name),
        ["edge", "echo"],
      );
      assert.equal(state.pools[0]?.servers[0]?.backend, `127.0.0.1:${backend.port}`);
      assert.ok(events.some((event) => event.name === "sample"));
    } finally {
      client.close();
    }
  });
});
