// Property tests end to end: the real CLI between two raw TCP peers. Random valid frames from both sides at once,
// cut at random places, must reach the other side exactly (data frames byte for byte, masked as they came), with
// or without the gateway's own pings woven in; the close handshake then completes and the session log line
// counts what passed. A random violation after a valid prefix must end in its close code for the offender and a
// clean 1001 for the other side, and never disturb the gateway.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { Opcode } from "../../src/websocket/protocol.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";
import { announceSeed, fuzzParameters } from "./fuzz-config.js";
import { openRawClient, RawBackend, type RawPeer } from "./raw-peers.js";
import {
  closeFrame,
  closePayload,
  closeReason,
  cutPoints,
  encodeFrame,
  encodeFrames,
  endsInMessage,
  isControl,
  meaningOf,
  splitAt,
  trailingJunk,
  validCloseCode,
  validFrames,
  violation,
  type ParsedFrame,
  type WireFrame,
} from "./wire.js";

announceSeed("relay end-to-end properties");

const LIMIT = 200_000;

let backend: RawBackend;
let gateway: GatewayProcess;
let port: number;
let run = 0;

before(async () => {
  backend = await RawBackend.start();
  port = await freePort();
  const proxy = (name: string, extra: string): string => `
---
kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 2s
    permessageDeflate: pass${extra}
    pools:
      - servers: [{ url: ${backend.url} }]
        clientMaxMsgSize: ${LIMIT}
        serverMaxMsgSize: ${LIMIT}
`;
  gateway = await GatewayProcess.start(
    `
kind: HTTPServer
name: fuzz-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /pings
        backend: pings
      - pathPrefix: /
        backend: plain
` +
      proxy("plain", "") +
      proxy("pings", "\n    pingInterval: 20ms"),
  );
});

after(async () => {
  await gateway?.stop();
  await backend?.close();
});

/** The gateway's own pings, woven in on the /pings route: not part of what the peers sent. */
function isGatewayPing(frame: ParsedFrame): boolean {
  return frame.opcode === Opcode.Ping && frame.payload.toString("latin1").startsWith("wsgate:");
}

function peerFrames(peer: RawPeer): ParsedFrame[] {
  return peer.frames().filter((frame) => !isGatewayPing(frame));
}

function assertRelayed(
  received: readonly ParsedFrame[],
  sent: readonly WireFrame[],
  masked: boolean,
  who: string,
): void {
  assert.equal(received.length, sent.length, `${who}: frame count`);
  sent.forEach((frame, index) => {
    const got = received[index] as ParsedFrame;
    if (isControl(frame.opcode)) {
      assert.deepEqual(meaningOf(got), meaningOf(frame), `${who}: control frame ${index}`);
      assert.equal(got.masked, masked, `${who}: control frame ${index} masking`);
    } else {
      assert.ok(got.raw.equals(encodeFrame(frame)), `${who}: data frame ${index} relayed byte for byte`);
    }
  });
}

function messagesIn(frames: readonly WireFrame[]): number {
  return frames.filter((frame) => !isControl(frame.opcode) && frame.fin).length;
}

/** Opens one session through the gateway: the raw client and the raw backend's end of it. */
async function openSession(path: string, deflate: boolean): Promise<{ client: RawPeer; server: RawPeer }> {
  const client = await openRawClient(port, path, deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "");
  const server = await backend.nextPeer(path);
  return { client, server };
}

function sessionLine(path: string): Promise<LogLine> {
  return gateway.nextLog((line) => line.event === "websocket_session" && line.path === path);
}

describe("relay end-to-end properties (wsgate run, raw TCP peers)", () => {
  it("relays random valid frames both ways at once, then carries the close handshake", async () => {
    const scenario = fc.record({ deflate: fc.boolean(), pings: fc.boolean() }).chain(({ deflate, pings }) =>
      fc.record({
        deflate: fc.constant(deflate),
        pings: fc.constant(pings),
        fromClient: validFrames({ fromClient: true, deflate }, 4),
        fromBackend: validFrames({ fromClient: false, deflate }, 4),
        clientCuts: cutPoints(),
        backendCuts: cutPoints(),
        closer: fc.constantFrom("client" as const, "backend" as const, "both" as const),
        // What the closer sends after its close: it must never reach the other side.
        afterClose: validFrames({ fromClient: true, deflate }, 2),
        close: fc.option(fc.tuple(validCloseCode, closeReason), { nil: undefined }),
        mask: fc.uint8Array({ minLength: 4, maxLength: 4 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const path = `${s.pings ? "/pings" : "/plain"}?run=${++run}`;
        const { client, server } = await openSession(path, s.deflate);
        try {
          const clientBytes = encodeFrames(s.fromClient);
          const backendBytes = encodeFrames(s.fromBackend);
          await Promise.all([
            client.sendPieces(splitAt(clientBytes, s.clientCuts)),
            server.sendPieces(splitAt(backendBytes, s.backendCuts)),
          ]);
          const toBackend = await server.waitFor(
            () => (peerFrames(server).length >= s.fromClient.length ? peerFrames(server) : undefined),
            5000,
            "the client's frames at the backend",
          );
          const toClient = await client.waitFor(
            () => (peerFrames(client).length >= s.fromBackend.length ? peerFrames(client) : undefined),
            5000,
            "the backend's frames at the client",
          );
          assertRelayed(toBackend, s.fromClient, true, "to the backend");
          assertRelayed(toClient, s.fromBackend, false, "to the client");

          // The close handshake, started by either side (or both at once), relayed unchanged both ways; frames
          // sent after a close are dropped.
          const payload = s.close === undefined ? Buffer.alloc(0) : closePayload(s.close[0], s.close[1]);
          const [closer, other] = s.closer === "backend" ? [server, client] : [client, server];
          const mask = (peer: RawPeer): Buffer | undefined => (peer === client ? Buffer.from(s.mask) : undefined);
          const closeFrom = (peer: RawPeer): Buffer => encodeFrame(closeFrame(payload, mask(peer)));
          const late = (peer: RawPeer): Buffer =>
            encodeFrames(s.afterClose.map((frame) => ({ ...frame, mask: mask(peer) })));
          closer.send(Buffer.concat([closeFrom(closer), late(closer)]));
          if (s.closer === "both") other.send(Buffer.concat([closeFrom(other), late(other)]));
          const seen = await other.waitForFrame((f) => f.opcode === Opcode.Close, 5000, "the relayed close");
          assert.ok(seen.payload.equals(payload), "the close payload is relayed unchanged");
          if (s.closer !== "both") other.send(closeFrom(other));
          const echoed = await closer.waitForFrame((f) => f.opcode === Opcode.Close, 5000, "the relayed echo");
          assert.ok(echoed.payload.equals(payload));
          // The backend is the server of its connection: it closes TCP first (RFC 6455 7.1.1) and the gateway
          // follows; the gateway closes the client's connection itself.
          await client.waitClosed(3000);
          server.socket.end();
          await server.waitClosed(3000);
          for (const [peer, sent] of [
            [server, s.fromClient.length],
            [client, s.fromBackend.length],
          ] as const) {
            assert.equal(peerFrames(peer).length, sent + 1, "nothing after the close reached the other side");
          }

          const line = await sessionLine(path);
          if (s.closer !== "both") assert.equal(line.closedBy, s.closer);
          assert.equal(line.closeCode, s.close?.[0] ?? 1005);
          assert.equal(line.clientMessages, messagesIn(s.fromClient));
          assert.equal(line.backendMessages, messagesIn(s.fromBackend));
          // Bytes on the wire up to and including each side's close (what follows a close is not read).
          assert.ok(
            (line.clientBytes as number) >= clientBytes.length + closeFrom(client).length,
            "clientBytes counts every byte on the wire",
          );
          assert.ok((line.backendBytes as number) >= backendBytes.length + closeFrom(server).length);
          if (s.afterClose.length === 0) {
            assert.equal(line.clientBytes, clientBytes.length + closeFrom(client).length);
            assert.equal(line.backendBytes, backendBytes.length + closeFrom(server).length);
          }
        } finally {
          client.socket.destroy();
          server.socket.destroy();
        }
      }),
      fuzzParameters(25, { shrink: false }),
    );
  });

  it("ends a random violation from either side in its close code there and a clean 1001 on the other side", async () => {
    const scenario = fc
      .record({ deflate: fc.boolean(), offender: fc.constantFrom("client" as const, "backend" as const) })
      .chain(({ deflate, offender }) => {
        const options = { fromClient: offender === "client", deflate };
        return validFrames(options, 3).chain((prefix) =>
          fc.record({
            deflate: fc.constant(deflate),
            offender: fc.constant(offender),
            prefix: fc.constant(prefix),
            bad: violation({ ...options, inMessage: endsInMessage(prefix), maxMessageSize: LIMIT }),
            junk: trailingJunk,
            cuts: cutPoints(),
          }),
        );
      });
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const path = `/plain?run=${++run}`;
        const { client, server } = await openSession(path, s.deflate);
        try {
          const [offender, other] = s.offender === "client" ? [client, server] : [server, client];
          const bytes = Buffer.concat([encodeFrames(s.prefix), encodeFrames(s.bad.frames), s.junk]);
          await offender.sendPieces(splitAt(bytes, s.cuts));

          const close = await other.waitForFrame((f) => f.opcode === Opcode.Close, 5000, "the other side's close");
          const received = other.frames();
          const closeIndex = received.findIndex((f) => f.opcode === Opcode.Close);
          assertRelayed(received.slice(0, closeIndex), s.prefix, s.offender === "client", "the other side");
          assert.equal(close.payload.readUInt16BE(0), 1001);
          assert.equal(close.payload.toString("utf8", 2), `${s.offender}: ${s.bad.failure.reason}`);
          other.send(encodeFrame(closeFrame(close.payload, other === client ? Buffer.from([1, 2, 3, 4]) : undefined)));

          const told = await offender.waitForFrame((f) => f.opcode === Opcode.Close, 5000, "the offender's close");
          assert.equal(told.payload.readUInt16BE(0), s.bad.failure.closeCode);
          assert.equal(told.masked, s.offender === "backend", "a close to the backend is masked");
          assert.equal(offender.frames().length, 1, "the offender gets its close and nothing else");
          // A backend that answered the close ends TCP itself, as the server of its connection.
          if (other === server) server.socket.end();
          await Promise.all([offender.waitClosed(3000, "the offender's TCP"), other.waitClosed(3000, "the other TCP")]);

          const line = await sessionLine(path);
          assert.equal(line.closedBy, "gateway");
          assert.equal(line.closeCode, s.bad.failure.closeCode);
          assert.equal(line.closeReason, `${s.offender}: ${s.bad.failure.reason}`);
        } finally {
          client.socket.destroy();
          server.socket.destroy();
        }
      }),
      fuzzParameters(40, { shrink: false }),
    );
    assert.equal(gateway.child.exitCode, null, "the gateway is still running");
    assert.equal(gateway.stderr, "", "nothing on stderr");
  });
});
