// The HTTP/2 per-connection limits (src/server/h2/limits.ts) on a real http2 server of the test's own, attacked with
// raw frames: each flood closes the attacking connection (GOAWAY with the code named), a well-behaved connection
// opened before it keeps working.
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { http2LimitsSchema, type Http2Limits } from "../../src/server/h2/limits-spec.js";
import { guardSession, http2LimitOptions, type Http2Flood } from "../../src/server/h2/limits.js";
import {
  Flag,
  FrameType,
  H2Error,
  RawH2,
  getRequest,
  h2frame,
  headerBlock,
  ping,
  rstStream,
  settingsFrame,
} from "../helpers/h2-frames.js";
import { withTimeout } from "../helpers/net.js";

interface LimitedServer {
  server: http2.Http2Server;
  port: number;
  floods: Http2Flood[];
  /** Streams whose request handler ran. */
  handled: number;
}

async function limitedServer(limits: Http2Limits, clientMaxHeaders = 100, holdMs = 0): Promise<LimitedServer> {
  const state: LimitedServer = { server: undefined as never, port: 0, floods: [], handled: 0 };
  const server = http2.createServer({ ...http2LimitOptions(limits, clientMaxHeaders) }, (req, res) => {
    state.handled++;
    const answer = (): void => {
      if (!res.destroyed && !res.writableEnded) res.end(`ok ${req.url}`);
    };
    if (holdMs > 0) setTimeout(answer, holdMs).unref();
    else answer();
  });
  server.on("session", (session) => guardSession(session, limits, (_, flood) => state.floods.push(flood)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.server = server;
  state.port = (server.address() as AddressInfo).port;
  return state;
}

function closeServer(server: http2.Http2Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    setTimeout(resolve, 2000).unref();
  });
}

/** A well-behaved node:http2 client's GET: its answer body. */
async function get(session: http2.ClientHttp2Session, path: string): Promise<string> {
  const stream = session.request({ ":path": path });
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      stream.on("end", resolve);
      stream.on("error", reject);
    }),
    5000,
    `GET ${path}`,
  );
  return Buffer.concat(chunks).toString();
}

/** Closed by the server with a GOAWAY, or by a reset that came after it (resetByPeer says why it can be lost). */
function assertClosedByServer(attacker: RawH2): void {
  assert.ok(
    attacker.goaway() !== undefined || attacker.resetByPeer,
    `neither a GOAWAY nor a reset (socket error: ${attacker.errorCode ?? "none"})`,
  );
}

const defaults = (overrides: Record<string, unknown> = {}): Http2Limits => http2LimitsSchema.parse(overrides);

describe("HTTP/2 per-connection limits (raw frames)", () => {
  let target: LimitedServer;
  let bystander: http2.ClientHttp2Session;

  before(async () => {
    target = await limitedServer(defaults({ maxResets: 100, maxPings: 50, maxSettings: 50 }), 100, 20);
  });
  after(async () => {
    bystander?.close();
    await closeServer(target.server);
  });

  /** A connection opened before the flood, still served after it. */
  async function bystanderSurvives(run: () => Promise<void>): Promise<void> {
    bystander = http2.connect(`http://127.0.0.1:${target.port}`);
    try {
      assert.equal(await get(bystander, "/before"), "ok /before");
      await run();
      assert.equal(await get(bystander, "/after"), "ok /after");
      assert.equal(bystander.destroyed, false);
    } finally {
      // Also when a check fails: an open session would keep the test process alive until the runner's timeout.
      bystander.close();
    }
  }

  const floods: Array<{ name: string; flood: Http2Flood; frame: (i: number) => Buffer; count: number }> = [
    {
      name: "rapid reset (CVE-2023-44487): HEADERS then RST_STREAM, paced",
      flood: "resets",
      frame: (i) =>
        Buffer.concat([
          h2frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1 + 2 * i, headerBlock(getRequest(`/r${i}`))),
          rstStream(1 + 2 * i),
        ]),
      count: 5000,
    },
    { name: "PING flood, paced", flood: "pings", frame: (i) => ping(i), count: 20000 },
    { name: "SETTINGS flood, paced", flood: "settings", frame: () => settingsFrame(), count: 20000 },
  ];
  for (const { name, flood, frame, count } of floods) {
    it(`${name}: GOAWAY ENHANCE_YOUR_CALM closes that connection only`, async () => {
      target.floods.length = 0;
      await bystanderSurvives(async () => {
        const attacker = await RawH2.connect(target.port);
        const sent = await attacker.flood(count, frame, 50, 2);
        await attacker.untilClosed(5000);
        assert.equal(attacker.goaway()?.code, H2Error.ENHANCE_YOUR_CALM);
        assert.deepEqual(target.floods, [flood]);
        // Caught near the limit (100/50/50 plus what was in flight), well before the whole flood.
        assert.ok(sent < count, `the server took all ${sent} frames`);
      });
    });
  }

  it("a client that resets, pings and sends SETTINGS within the limits keeps its connection", async () => {
    target.floods.length = 0;
    const client = await RawH2.connect(target.port);
    for (let i = 0; i < 40; i++) {
      const id = 1 + 2 * i;
      client.write(h2frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, headerBlock(getRequest())));
      client.write(rstStream(id));
      client.write(ping(i));
      if (i % 2 === 0) client.write(settingsFrame());
    }
    const last = 1 + 2 * 40;
    client.write(h2frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, last, headerBlock(getRequest("/x"))));
    await client.until(
      () => client.frames.some((f) => f.type === FrameType.DATA && f.stream === last),
      5000,
      "the answer to the last request",
    );
    assert.equal(client.goaway(), undefined);
    assert.deepEqual(target.floods, []);
    client.close();
  });

  it("empty DATA frames (CVE-2019-9518): closed by Node's invalid-frame count", async () => {
    await bystanderSurvives(async () => {
      const attacker = await RawH2.connect(target.port);
      attacker.write(h2frame(FrameType.HEADERS, Flag.END_HEADERS, 1, headerBlock(getRequest("/upload"))));
      const sent = await attacker.flood(20000, () => h2frame(FrameType.DATA, 0, 1), 50, 2);
      await attacker.untilClosed(5000);
      assertClosedByServer(attacker);
      assert.ok(sent < 20000);
    });
  });

  it("CONTINUATION flood (CVE-2024-27316 family): GOAWAY and closed", async () => {
    await bystanderSurvives(async () => {
      const attacker = await RawH2.connect(target.port);
      attacker.write(h2frame(FrameType.HEADERS, 0, 1, headerBlock(getRequest("/c"))));
      const sent = await attacker.flood(
        20000,
        (i) => h2frame(FrameType.CONTINUATION, 0, 1, headerBlock([[`x-c${i}`, "v"]])),
        50,
        2,
      );
      await attacker.untilClosed(5000);
      assertClosedByServer(attacker);
      assert.ok(sent < 20000);
    });
  });
});

describe("HTTP/2 streams and header limits", () => {
  it("maxConcurrentStreams is advertised, and streams over it are refused (REFUSED_STREAM)", async () => {
    const limited = await limitedServer(defaults({ maxConcurrentStreams: 10 }), 100, 500);
    try {
      const client = await RawH2.connect(limited.port);
      await client.until(
        () => client.frames.some((f) => f.type === FrameType.SETTINGS && f.flags === 0),
        5000,
        "SETTINGS",
      );
      const settings =
        client.frames.find((f) => f.type === FrameType.SETTINGS && f.flags === 0)?.payload ?? Buffer.alloc(0);
      const advertised = new Map<number, number>();
      for (let i = 0; i + 6 <= settings.length; i += 6)
        advertised.set(settings.readUInt16BE(i), settings.readUInt32BE(i + 2));
      assert.equal(advertised.get(3), 10, "SETTINGS_MAX_CONCURRENT_STREAMS");
      assert.equal(advertised.get(6), 16384, "SETTINGS_MAX_HEADER_LIST_SIZE");
      // No SETTINGS ACK: nghttp2 holds a client to the pending limit already (after an ACK, going over it is a
      // connection error instead).
      const headers: Buffer[] = [];
      for (let i = 0; i < 15; i++) {
        headers.push(
          h2frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1 + 2 * i, headerBlock(getRequest())),
        );
      }
      client.write(Buffer.concat(headers));
      await client.until(() => client.resets().length >= 5, 5000, "five refused streams");
      assert.ok(client.resets().every((r) => r.code === H2Error.REFUSED_STREAM));
      await client.until(
        () => client.frames.filter((f) => f.type === FrameType.DATA && (f.flags & Flag.END_STREAM) !== 0).length >= 10,
        5000,
        "ten answers",
      );
      assert.equal(limited.handled, 10);
      assert.equal(client.goaway(), undefined);
      client.close();
    } finally {
      await closeServer(limited.server);
    }
  });

  it("more headers than clientMaxHeaders: that stream is reset (ENHANCE_YOUR_CALM), the connection stays", async () => {
    const limited = await limitedServer(defaults(), 20);
    try {
      const client = await RawH2.connect(limited.port);
      const many: Array<[string, string]> = [...getRequest("/many")];
      for (let i = 0; i < 40; i++) many.push([`x-h${i}`, "v"]);
      client.write(h2frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, headerBlock(many)));
      const fine: Array<[string, string]> = [...getRequest("/fine")];
      for (let i = 0; i < 15; i++) fine.push([`x-h${i}`, "v"]);
      client.write(h2frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, headerBlock(fine)));
      await client.until(() => client.frames.some((f) => f.type === FrameType.DATA && f.stream === 3), 5000, "/fine");
      assert.deepEqual(client.resets(), [{ stream: 1, code: H2Error.ENHANCE_YOUR_CALM }]);
      assert.equal(limited.handled, 1);
      client.close();
    } finally {
      await closeServer(limited.server);
    }
  });

  it("a header list over maxHeaderListSize: that stream is refused, the connection stays", async () => {
    const limited = await limitedServer(defaults({ maxHeaderListSize: 4096 }));
    try {
      const client = await RawH2.connect(limited.port);
      // Node enforces the header list size once the client has acknowledged the setting (before: its 64 KiB default).
      await client.until(
        () => client.frames.some((f) => f.type === FrameType.SETTINGS && f.flags === 0),
        5000,
        "SETTINGS",
      );
      client.write(h2frame(FrameType.SETTINGS, Flag.ACK, 0));
      const big = headerBlock([...getRequest("/big"), ["x-big", "a".repeat(6000)]]);
      client.write(h2frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, big));
      client.write(h2frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, headerBlock(getRequest("/ok"))));
      await client.until(() => client.frames.some((f) => f.type === FrameType.DATA && f.stream === 3), 5000, "/ok");
      assert.deepEqual(client.resets(), [{ stream: 1, code: H2Error.ENHANCE_YOUR_CALM }]);
      assert.equal(limited.handled, 1);
      assert.equal(client.goaway(), undefined);
      client.close();
    } finally {
      await closeServer(limited.server);
    }
  });
});
