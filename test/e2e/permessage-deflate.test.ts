// permessageDeflate (issue 15 item 10), end to end: `strip` (the default) takes compression offers out of the backend's
// upgrade, so message limits are exact; `pass` negotiates end to end, and then limits count compressed bytes.
// Regression: with deflate negotiated, a 32 KiB frame inflated to 32 MiB at the backend under the 32,769-byte default.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { withoutCompressionOffers } from "../../src/filters/websocket-proxy/deflate-offer.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordingBackend } from "../helpers/recording-backend.js";
import { answer101, openRawClient, RawBackend } from "../fuzz/raw-peers.js";

const LIMIT = 40_000;

describe("permessageDeflate: strip | pass (wsgate run)", () => {
  let backend: TestBackend;
  let recording: RecordingBackend;
  /** Answers every upgrade with permessage-deflate, offered or not. */
  let insistent: RawBackend;
  let gateway: GatewayProcess;
  let port: number;
  /** Sizes of the messages the deflate backend received, inflated. */
  const received: number[] = [];

  before(async () => {
    backend = await startBackend({
      wsOptions: { perMessageDeflate: { threshold: 0 }, maxPayload: 64 * 1024 * 1024 },
      onConnection: (socket) => socket.on("message", (data: Buffer) => received.push(data.length)),
    });
    recording = await startRecordingBackend();
    insistent = await RawBackend.start((socket, head) =>
      answer101(socket, head, Buffer.from("Sec-WebSocket-Extensions: permessage-deflate\r\n")),
    );
    port = await freePort();
    const pipeline = (name: string, url: string, mode: string): string => `
---
kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s${mode === "" ? "" : `\n    permessageDeflate: ${mode}`}
    clientMaxMsgSize: ${LIMIT}
    pools: [{ servers: [{ url: ${url} }] }]`;
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: deflate-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - { pathPrefix: /default, backend: default }
      - { pathPrefix: /strip, backend: strip }
      - { pathPrefix: /pass, backend: pass }
      - { pathPrefix: /record, backend: record }
      - { pathPrefix: /insistent, backend: insistent }
${pipeline("default", backend.url, "")}
${pipeline("strip", backend.url, "strip")}
${pipeline("pass", backend.url, "pass")}
${pipeline("record", recording.url, "")}
${pipeline("insistent", insistent.url, "")}
`);
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await recording?.close();
    await insistent?.close();
  });

  function lastUpgrade(): IncomingMessage {
    const upgrade = backend.upgrades.at(-1);
    assert.ok(upgrade, "the backend saw an upgrade");
    return upgrade;
  }

  function open(path: string): Promise<WebSocket> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: { threshold: 0 } });
    return withTimeout(
      new Promise<WebSocket>((resolve, reject) => {
        ws.once("open", () => resolve(ws));
        ws.once("error", reject);
      }),
      3000,
      `the session on ${path}`,
    );
  }

  /** Sends `size` zero bytes and resolves with the size the backend got, or the close code the client got. */
  async function send(ws: WebSocket, size: number): Promise<{ arrived?: number; closed?: number }> {
    const before = received.length;
    const closed = new Promise<number>((resolve) => ws.once("close", resolve));
    ws.send(Buffer.alloc(size));
    const arrived = new Promise<number>((resolve) => {
      const poll = setInterval(() => {
        if (received.length > before) {
          clearInterval(poll);
          resolve(received[before] as number);
        }
      }, 5);
      void closed.finally(() => clearInterval(poll));
    });
    return withTimeout(
      Promise.race([arrived.then((n) => ({ arrived: n })), closed.then((code) => ({ closed: code }))]),
      3000,
      "the message or the close",
    );
  }

  for (const path of ["/default", "/strip"]) {
    it(`${path}: the backend sees no deflate offer, and limits count the bytes it receives`, async () => {
      const ws = await open(path);
      assert.equal(ws.extensions, "", "nothing negotiated with the client");
      assert.equal(lastUpgrade().headers["sec-websocket-extensions"], undefined, "no offer reached the backend");
      assert.deepEqual(await send(ws, 32 * 1024), { arrived: 32 * 1024 });
      // Over the limit by one byte: refused exactly, however well it would have compressed.
      assert.deepEqual(await send(ws, LIMIT + 1), { closed: 1009 });
    });
  }

  it("/pass: deflate is negotiated end to end, and the limit counts compressed bytes", async () => {
    const ws = await open("/pass");
    assert.match(ws.extensions, /permessage-deflate/);
    assert.match(String(lastUpgrade().headers["sec-websocket-extensions"]), /permessage-deflate/);
    // What `pass` means: 32 MiB of zeros compress to about 32 KiB, under the 40,000-byte limit, and arrive inflated.
    assert.deepEqual(await send(ws, 32 * 1024 * 1024), { arrived: 32 * 1024 * 1024 });
    ws.close();
  });

  it("strip: a backend that negotiates deflate anyway fails its handshake (502), no session starts", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/insistent`, { perMessageDeflate: true });
    ws.on("error", () => {});
    const status = await withTimeout(
      new Promise<number>((resolve) => {
        ws.once("unexpected-response", (_req, res: IncomingMessage) => resolve(res.statusCode ?? 0));
        ws.once("open", () => resolve(101));
      }),
      3000,
      "the gateway's answer",
    );
    ws.terminate();
    assert.equal(status, 502);
  });

  it("a table of offers: only compression offers are removed, other extensions reach the backend as sent", async () => {
    const offers: Array<[string, string | undefined]> = [
      ["permessage-deflate", undefined],
      ["PerMessage-Deflate; client_max_window_bits", undefined],
      ["permessage-deflate; client_max_window_bits=10, permessage-deflate", undefined],
      ["x-webkit-deflate-frame", undefined],
      ["permessage-deflate , x-custom", "x-custom"],
      ["x-custom; a=1, permessage-deflate; server_no_context_takeover", "x-custom; a=1"],
      ['x-custom; a="1,permessage-deflate", permessage-deflate', 'x-custom; a="1,permessage-deflate"'],
      ["permessage-deflatex", "permessage-deflatex"],
      ["x-permessage-deflate", "x-permessage-deflate"],
      [",, permessage-deflate ,", undefined],
    ];
    const wrong: string[] = [];
    for (const [offer, expected] of offers) {
      const count = recording.requests.length;
      const peer = await openRawClient(port, "/record", `Sec-WebSocket-Extensions: ${offer}\r\n`);
      peer.socket.destroy();
      const seen = (await recording.waitFor(count + 1)).at(-1);
      const value = seen?.headers["sec-websocket-extensions"];
      if (value !== expected) wrong.push(`${offer} -> ${String(value)} (expected ${String(expected)})`);
      const unit = withoutCompressionOffers([["Sec-WebSocket-Extensions", offer]]);
      if ((unit[0]?.[1] ?? undefined) !== expected) wrong.push(`unit: ${offer} -> ${String(unit[0]?.[1])}`);
    }
    assert.deepEqual(wrong, []);
  });
});
