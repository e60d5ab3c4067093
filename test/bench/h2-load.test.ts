// The bench's RFC 8441 load client (bench/h2-frames.ts, h2-client.ts, h2-load.ts) against a tiny http2 echo server
// of the test's own (h2-echo-server.ts): framing both ways with masking, one connection carrying many WebSockets,
// refusals, the open → echo → close cycles on a shared connection and on one connection each, and the worker process.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { H2RefusedError } from "../../bench/h2-client.js";
import { H2Connection } from "../../bench/h2-client.js";
import {
  FrameDecoder,
  FrameError,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_TEXT,
  encodeFrame,
} from "../../bench/h2-frames.js";
import { H2Pool, H2Workers, cycleLoops } from "../../bench/h2-load.js";
import type { H2Measurement } from "../../bench/h2-scenarios.js";
import type { Tally } from "../../bench/protocol.js";
import { CERT_SERVERNAME, makeCertificate, type BenchCertificate } from "../../bench/tls-certs.js";
import { readFileSync } from "node:fs";
import { startH2EchoServer, type H2EchoServer } from "./h2-echo-server.js";

function payload(size: number): Buffer {
  return Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff));
}

describe("h2 bench framing", () => {
  const sizes = [0, 1, 125, 126, 127, 65535, 65536, 70_000];
  for (const size of sizes) {
    for (const masked of [true, false]) {
      it(`${size} bytes, ${masked ? "masked" : "unmasked"}: decoded whole from every split of its bytes`, () => {
        const data = payload(size);
        const frame = encodeFrame(OP_BINARY, data, masked);
        assert.equal((frame[1] as number) >> 7, masked ? 1 : 0, "the mask bit");
        if (masked && size > 8) assert.notDeepEqual(frame.subarray(frame.length - size), data, "payload masked");
        const splits =
          size < 200
            ? Array.from({ length: frame.length + 1 }, (_, i) => i)
            : [1, 2, 3, 5, 9, 13, 14, frame.length - 1];
        for (const at of splits) {
          const decoder = new FrameDecoder();
          const got = [...decoder.push(frame.subarray(0, at)), ...decoder.push(frame.subarray(at))];
          assert.equal(got.length, 1, `split at ${at}`);
          assert.equal(got[0]?.opcode, OP_BINARY);
          assert.equal(got[0]?.masked, masked);
          assert.deepEqual(got[0]?.payload, data, `split at ${at}`);
        }
      });
    }
  }

  it("two masked frames never share a mask key (a pool of random keys)", () => {
    const keys = new Set<string>();
    for (let i = 0; i < 2000; i++)
      keys.add(encodeFrame(OP_TEXT, Buffer.from("x"), true).subarray(2, 6).toString("hex"));
    assert.ok(keys.size > 1990, `${keys.size} distinct keys of 2000`);
  });

  it("joins fragments, with a ping between them, into one message", () => {
    const first = encodeFrame(OP_TEXT, Buffer.from("hel"), false);
    first[0] = OP_TEXT; // FIN clear
    const ping = encodeFrame(OP_PING, Buffer.from("p"), false);
    const last = encodeFrame(OP_CONTINUATION, Buffer.from("lo"), false);
    const frames = new FrameDecoder().push(Buffer.concat([first, ping, last]));
    assert.deepEqual(
      frames.map((f) => [f.opcode, f.payload.toString()]),
      [
        [OP_PING, "p"],
        [OP_TEXT, "hello"],
      ],
    );
  });

  const faults: Array<[string, Buffer]> = [
    ["reserved bit", Buffer.from([0xc1, 0x00])],
    ["unknown opcode 3", Buffer.from([0x83, 0x00])],
    ["fragmented ping", Buffer.from([0x09, 0x00])],
    ["close of 126 bytes", Buffer.concat([Buffer.from([0x88, 0x7e, 0x00, 0x7e]), Buffer.alloc(126)])],
    ["continuation first", Buffer.from([0x80, 0x00])],
    ["new message inside a fragmented one", Buffer.from([0x01, 0x00, 0x81, 0x00])],
    ["length beyond 2^53", Buffer.from([0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])],
  ];
  for (const [name, bytes] of faults) {
    it(`refuses ${name}`, () => {
      assert.throws(() => new FrameDecoder().push(bytes), FrameError);
    });
  }

  it("refuses a frame beyond maxPayload before it has arrived", () => {
    assert.throws(() => new FrameDecoder(1000).push(Buffer.from([0x82, 0x7e, 0x10, 0x00])), FrameError);
  });

  it("close frames carry their code", () => {
    const [frame] = new FrameDecoder().push(encodeFrame(OP_CLOSE, Buffer.from([0x03, 0xe8]), true));
    assert.equal(frame?.payload.readUInt16BE(0), 1000);
  });
});

describe("h2 bench client against an RFC 8441 echo server", () => {
  let h2c: H2EchoServer;
  let tlsServer: H2EchoServer;
  let noConnect: H2EchoServer;
  let certDir: string;
  let cert: BenchCertificate;

  before(async () => {
    certDir = mkdtempSync(join(tmpdir(), "wsgate-h2-bench-"));
    cert = makeCertificate(certDir);
    h2c = await startH2EchoServer();
    tlsServer = await startH2EchoServer({ tls: { cert: cert.certPem, key: readFileSync(cert.keyFile, "utf8") } });
    noConnect = await startH2EchoServer({ connectProtocol: false });
  });

  after(async () => {
    await Promise.all([h2c.close(), tlsServer.close(), noConnect.close()]);
    rmSync(certDir, { recursive: true, force: true });
  });

  it("h2c: sees the setting, opens a WebSocket, echoes masked frames and closes with 1000", async () => {
    const connection = await H2Connection.open({ url: `http://127.0.0.1:${h2c.port}/ws` });
    try {
      assert.equal(connection.connectProtocol, true);
      assert.equal(connection.alpn, "h2c");
      const socket = await connection.openWebSocket("/ws");
      const echoed = new Promise<Buffer>((resolve) => (socket.onMessage = resolve));
      socket.send(payload(300));
      assert.deepEqual(await echoed, payload(300));
      await socket.close(1000);
      assert.equal(socket.closeCode, 1000);
      assert.equal(socket.problem, undefined);
    } finally {
      await connection.close();
    }
  });

  it("closes with its close frame and END_STREAM together, as Chromium does, and notices a server that answers with END_STREAM alone", async () => {
    const rude = await startH2EchoServer({ answerClose: false });
    const connection = await H2Connection.open({ url: `http://127.0.0.1:${rude.port}/ws` });
    try {
      const socket = await connection.openWebSocket("/ws");
      await socket.close(1000, 3000);
      assert.equal(socket.closeCode, undefined);
      assert.equal(socket.problem, "stream ended without a close frame");
    } finally {
      await connection.close();
      await rude.close();
    }
  });

  it("TLS: ALPN h2 with the bench's certificate", async () => {
    const connection = await H2Connection.open({
      url: `https://127.0.0.1:${tlsServer.port}/ws`,
      ca: cert.certPem,
      servername: CERT_SERVERNAME,
    });
    try {
      assert.equal(connection.alpn, "h2");
      const socket = await connection.openWebSocket("/ws");
      const echoed = new Promise<Buffer>((resolve) => (socket.onMessage = resolve));
      socket.send(payload(16 * 1024));
      assert.deepEqual(await echoed, payload(16 * 1024));
      await socket.close();
    } finally {
      await connection.close();
    }
  });

  it("a refusal comes back as its status; a server without the setting is not asked at all", async () => {
    const connection = await H2Connection.open({ url: `http://127.0.0.1:${h2c.port}/ws` });
    try {
      await assert.rejects(connection.openWebSocket("/elsewhere"), (error: H2RefusedError) => error.status === 404);
      await assert.rejects(
        connection.openWebSocket("/ws", { "sec-websocket-version": "8" }),
        (error: H2RefusedError) => error.status === 400,
      );
    } finally {
      await connection.close();
    }
    const before = noConnect.counts.refused + noConnect.counts.sessions;
    const plain = await H2Connection.open({ url: `http://127.0.0.1:${noConnect.port}/ws` });
    try {
      assert.equal(plain.connectProtocol, false);
      await assert.rejects(plain.openWebSocket("/ws"), /SETTINGS_ENABLE_CONNECT_PROTOCOL/);
      assert.equal(noConnect.counts.refused + noConnect.counts.sessions, before);
    } finally {
      await plain.close();
    }
  });

  it("50 WebSockets multiplexed on one connection echo together", async () => {
    const connectionsBefore = h2c.counts.connections;
    const pool = await H2Pool.open({ url: `http://127.0.0.1:${h2c.port}/ws` }, 1, 50);
    try {
      assert.equal(pool.sockets.length, 50);
      assert.deepEqual(pool.problems, {});
      const result = await pool.echo(64, 300);
      assert.ok(result.count >= 50, `${result.count} echoes`);
      assert.deepEqual(result.problems, {});
      assert.equal(h2c.counts.connections - connectionsBefore, 1);
    } finally {
      assert.deepEqual(await pool.close(), {});
    }
  });

  it("cycles: shared connection dials once; per-connection dials one per cycle", async () => {
    const target = { url: `https://127.0.0.1:${tlsServer.port}/ws`, ca: cert.certPem, servername: CERT_SERVERNAME };
    let before = tlsServer.counts.connections;
    const shared = await cycleLoops(target, 64, 4, 300, false);
    assert.ok(shared.count >= 4, `${shared.count} cycles`);
    assert.deepEqual(shared.problems, {});
    assert.equal(shared.connections, 1);
    assert.equal(tlsServer.counts.connections - before, 1);
    before = tlsServer.counts.connections;
    const own = await cycleLoops(target, 64, 4, 300, true);
    assert.ok(own.count >= 4, `${own.count} cycles`);
    assert.deepEqual(own.problems, {});
    assert.equal(own.connections, tlsServer.counts.connections - before);
    assert.ok(own.connections >= own.count);
  });

  it("the worker process runs the same commands", async () => {
    const workers = await H2Workers.start(1);
    try {
      const target = { url: `http://127.0.0.1:${h2c.port}/ws` };
      const [opened] = await workers.allOf(
        [{ type: "h2-open", target, connections: 2, sessions: 10 }],
        "h2-opened",
        10_000,
      );
      assert.equal(opened?.opened, 10);
      assert.deepEqual(opened?.alpn, { h2c: 2 });
      const [echo] = await workers.allOf(
        [{ type: "h2-run", kind: "echo", size: 64, durationMs: 200 }],
        "h2-result",
        10_000,
      );
      assert.ok((echo?.count ?? 0) >= 10);
      assert.ok((echo?.latencies.length ?? 0) > 0);
      const [closed] = await workers.allOf([{ type: "h2-close" }], "h2-closed", 10_000);
      assert.deepEqual(closed?.problems, {});
      const [cycle] = await workers.allOf(
        [{ type: "h2-run", kind: "cycle", size: 64, durationMs: 200, target, loops: 2, perConnection: false }],
        "h2-result",
        10_000,
      );
      assert.ok((cycle?.count ?? 0) >= 2);
    } finally {
      workers.stop();
    }
  });
});

describe("h2 bench report", () => {
  it("sums workers, takes × h1 round by round, and shows failures and ALPN", async () => {
    const { h2Report, tallyH2Run } = await import("../../bench/h2-scenarios.js");
    const tally = tallyH2Run([
      { count: 100, elapsedMs: 1000, latencies: [1, 2, 3], connections: 0, problems: {} },
      { count: 300, elapsedMs: 1000, latencies: [4], connections: 2, problems: { "no echo within 10 s": 1 } },
    ]);
    assert.equal(tally.ops, 400);
    assert.equal(tally.rate, 400);
    assert.equal(tally.connections, 2);
    assert.equal(tally.p50Ms, 2);
    assert.deepEqual(tally.problems, { "no echo within 10 s": 1 });
    const row = (round: number, transport: "h1" | "h2-mux" | "h2-conn", rate: number): H2Measurement => ({
      round,
      scenario: "h2-echo-64" as const,
      transport,
      ops: rate,
      rate,
      proxyCpuUsPerOp: 10,
      connections: transport === "h2-mux" ? 2 : 50,
      alpn: (transport === "h1" ? { "http/1.1": 50 } : { h2: transport === "h2-mux" ? 2 : 50 }) as Tally,
      problems: {},
    });
    const markdown = h2Report([
      row(1, "h1", 1000),
      row(1, "h2-mux", 1500),
      row(2, "h1", 500),
      row(2, "h2-mux", 1000),
      { ...row(1, "h2-conn", 0), error: "refused" },
    ]);
    assert.match(markdown, /\| h2-echo-64 \| h2-mux \| 1250 \[1000–1500\] msg\/s \| 1.75× \[1.50–2.00\] \|/);
    assert.match(markdown, /\| h2-conn \| — msg\/s \(0 of 1 rounds\) .*error: refused/);
    assert.match(markdown, /\| 2 \[2–2\] \| h2 ×4 \|/);
  });
});
