/**
 * `npm run soak -- --minutes N`: the gateway (wsgate run, as users start it) under a steady mix of healthy and
 * hostile traffic for N minutes: echo sessions, garbage, half-open connections, clients that never read, peers
 * that reset mid-frame, protocol violations, backends that answer 101 and go silent. Every few seconds it prints
 * the gateway's memory and open descriptors; at the end it checks that every healthy session succeeded, that the
 * descriptors came back and memory stayed flat, and that shutdown found no session left. Exits 1 otherwise.
 * Every wait is bounded and the run ends by itself.
 *
 *   node dist/bench/soak.js [--minutes N] [--concurrency N]
 */
import { parseArgs } from "node:util";
import { Opcode } from "../src/websocket/protocol.js";
import { GatewayProcess } from "../test/helpers/gateway-process.js";
import { freePort, rawExchange, statusOf } from "../test/helpers/net.js";
import { openFds, rssBytes, sleep } from "../test/fuzz/process-probe.js";
import { answer101, openRawClient, RawBackend, type RawPeer } from "../test/fuzz/raw-peers.js";
import { closeFrame, closePayload, encodeFrame } from "../test/fuzz/wire.js";

const MAX_MINUTES = 24 * 60;
const MASK = Buffer.from([0x5a, 0xa5, 0x0f, 0xf0]);
const USAGE = `Usage: node dist/bench/soak.js [options]

  --minutes N       how long to run the traffic (default 5, at most ${MAX_MINUTES})
  --concurrency N   traffic loops at once (default 16)
  --help
`;

function binary(size: number, masked: boolean): Buffer {
  return encodeFrame({
    fin: true,
    rsv: 0,
    opcode: Opcode.Binary,
    payload: Buffer.alloc(size, 0x61),
    mask: masked ? MASK : undefined,
    lengthForm: "shortest",
  });
}

interface Soak {
  port: number;
  backend: RawBackend;
  mute: RawBackend;
  sequence: number;
}

/** One kind of traffic: resolves true when the gateway behaved as documented. */
type Scenario = (soak: Soak) => Promise<boolean>;

async function session(soak: Soak, kind: string): Promise<{ client: RawPeer; server: RawPeer }> {
  const path = `/echo/${kind}?n=${++soak.sequence}`;
  const client = await openRawClient(soak.port, path);
  const server = await soak.backend.nextPeer(path);
  return { client, server };
}

/** Each scenario with its share of the traffic. */
const SCENARIOS: Array<{ name: string; weight: number; run: Scenario }> = [
  {
    name: "echo session",
    weight: 6,
    run: async (soak) => {
      const { client, server } = await session(soak, "echo");
      try {
        for (let i = 0; i < 5; i++) server.send(binary(100 + i * 1000, false));
        client.send(binary(3000, true));
        await server.waitForFrame((frame) => frame.opcode === Opcode.Binary, 5000);
        await client.waitFor(() => (client.frames().length >= 5 ? true : undefined), 5000, "five messages");
        client.send(encodeFrame(closeFrame(closePayload(1000, "done"), MASK)));
        const close = await server.waitForFrame((frame) => frame.opcode === Opcode.Close, 5000);
        server.send(encodeFrame(closeFrame(close.payload, undefined)));
        await client.waitClosed(5000);
        return true;
      } finally {
        client.socket.destroy();
        server.socket.destroy();
      }
    },
  },
  {
    name: "garbage",
    weight: 2,
    run: async (soak) => {
      const answer = await rawExchange(
        soak.port,
        Buffer.from(`\x16\x03\x01${"\xff".repeat(50)}\r\n\r\n`, "latin1"),
        5000,
      );
      return answer.closed && statusOf(answer.received) === 400;
    },
  },
  {
    name: "half-open connection",
    weight: 1,
    run: async (soak) => {
      const answer = await rawExchange(soak.port, "GET /echo HTTP/1.1\r\nHost: x\r\n", 5000);
      return answer.closed && statusOf(answer.received) === 408;
    },
  },
  {
    name: "client reset mid-frame",
    weight: 2,
    run: async (soak) => {
      const { client, server } = await session(soak, "client-reset");
      client.send(binary(5000, true).subarray(0, 2000));
      await server.waitFor(() => (server.receivedLength > 0 ? true : undefined), 5000, "bytes");
      client.socket.resetAndDestroy();
      await server.waitClosed(5000);
      return true;
    },
  },
  {
    name: "backend reset mid-frame",
    weight: 2,
    run: async (soak) => {
      const { client, server } = await session(soak, "backend-reset");
      server.send(binary(5000, false).subarray(0, 2000));
      await client.waitFor(() => (client.receivedLength > 0 ? true : undefined), 5000, "bytes");
      server.socket.resetAndDestroy();
      await client.waitClosed(5000);
      return true;
    },
  },
  {
    name: "protocol violation",
    weight: 2,
    run: async (soak) => {
      const { client, server } = await session(soak, "violation");
      try {
        client.send(binary(10, false));
        const told = await client.waitForFrame((frame) => frame.opcode === Opcode.Close, 5000);
        const other = await server.waitForFrame((frame) => frame.opcode === Opcode.Close, 5000);
        server.send(encodeFrame(closeFrame(other.payload, undefined)));
        await Promise.all([client.waitClosed(5000), server.waitClosed(5000)]);
        return told.payload.readUInt16BE(0) === 1002 && other.payload.readUInt16BE(0) === 1001;
      } finally {
        client.socket.destroy();
        server.socket.destroy();
      }
    },
  },
  {
    name: "client that never reads",
    weight: 1,
    run: async (soak) => {
      const { client, server } = await session(soak, "never-reads");
      try {
        client.socket.pause();
        const frame = binary(64 * 1024, false);
        for (let i = 0; i < 64 && server.socket.writableLength < 4 * 1024 * 1024; i++) server.send(frame);
        await sleep(500);
        return !server.isClosed;
      } finally {
        client.socket.destroy();
        server.socket.destroy();
      }
    },
  },
  {
    name: "backend silent after its 101",
    weight: 1,
    run: async (soak) => {
      const client = await openRawClient(soak.port, `/mute?n=${++soak.sequence}`);
      try {
        client.answerPings(MASK);
        const close = await client.waitForFrame((frame) => frame.opcode === Opcode.Close, 5000);
        client.send(encodeFrame(closeFrame(close.payload, MASK)));
        await client.waitClosed(5000);
        return close.payload.toString("utf8", 2) === "backend did not answer ping";
      } finally {
        client.socket.destroy();
      }
    },
  },
];

function pick(): (typeof SCENARIOS)[number] {
  const total = SCENARIOS.reduce((sum, scenario) => sum + scenario.weight, 0);
  let draw = Math.random() * total;
  for (const scenario of SCENARIOS) {
    draw -= scenario.weight;
    if (draw < 0) return scenario;
  }
  return SCENARIOS[0] as (typeof SCENARIOS)[number];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: "5" },
      concurrency: { type: "string", default: "16" },
      help: { type: "boolean" },
    },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const minutes = Number(values.minutes);
  const concurrency = Number(values.concurrency);
  if (!(minutes > 0 && minutes <= MAX_MINUTES)) throw new Error(`--minutes must be in (0, ${MAX_MINUTES}]`);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1000) {
    throw new Error("--concurrency must be an integer from 1 to 1000");
  }

  const backend = await RawBackend.start();
  const mute = await RawBackend.start((socket, head) => {
    answer101(socket, head);
    socket.pause();
  });
  const port = await freePort();
  const gateway = await GatewayProcess.start(`
kind: HTTPServer
name: soak-server
port: ${port}
address: 127.0.0.1
clientHeaderTimeout: 1s
rules:
  - paths:
      - pathPrefix: /mute
        backend: mute
      - pathPrefix: /echo
        backend: echo
---
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s
    pools: [{ servers: [{ url: ${backend.url} }], clientMaxMsgSize: -1, serverMaxMsgSize: -1 }]
---
kind: Pipeline
name: mute
filters:
  - kind: WebSocketProxy
    name: proxy
    pingInterval: 200ms
    pongTimeout: 500ms
    closeTimeout: 1s
    pools: [{ servers: [{ url: ${mute.url} }] }]
`);
  // Debug lines (one per rejected request) are not what the soak reads; keep only the session lines' count.
  gateway.logs.length = 0;
  const pid = gateway.child.pid ?? 0;
  const soak: Soak = { port, backend, mute, sequence: 0 };
  const startFds = openFds(pid);
  const failures = new Map<string, number>();
  const done = new Map<string, number>();
  const deadline = Date.now() + minutes * 60_000;
  let warmRss = 0;
  const warmAt = Date.now() + Math.min(60_000, (minutes * 60_000) / 4);

  const loop = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const scenario = pick();
      let ok = false;
      try {
        ok = await scenario.run(soak);
      } catch {
        ok = false;
      }
      (ok ? done : failures).set(scenario.name, ((ok ? done : failures).get(scenario.name) ?? 0) + 1);
    }
  };
  const sampler = setInterval(() => {
    const rss = rssBytes(pid);
    if (warmRss === 0 && Date.now() >= warmAt) warmRss = rss;
    const total = [...done.values()].reduce((a, b) => a + b, 0);
    const failed = [...failures.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(
      `soak ${new Date().toISOString()}  scenarios ${total} ok, ${failed} failed  ` +
        `rss ${(rss / 1048576).toFixed(1)} MiB  fds ${openFds(pid)}\n`,
    );
    // Keep the collected log lines from growing with the run.
    if (gateway.logs.length > 10_000) gateway.logs.length = 0;
  }, 5000);
  await Promise.all(Array.from({ length: concurrency }, loop));
  clearInterval(sampler);

  const problems: string[] = [];
  for (const [name, count] of failures) problems.push(`${count} × ${name} did not behave as documented`);
  await sleep(2500);
  const endFds = openFds(pid);
  if (endFds > startFds + 5) problems.push(`open descriptors: ${startFds} at the start, ${endFds} at the end`);
  const endRss = rssBytes(pid);
  if (warmRss > 0 && endRss > warmRss + 64 * 1024 * 1024) {
    problems.push(`memory grew from ${(warmRss / 1048576).toFixed(1)} to ${(endRss / 1048576).toFixed(1)} MiB`);
  }
  if (gateway.child.exitCode !== null) problems.push(`the gateway exited with ${gateway.child.exitCode}`);
  const exit = await gateway.stop();
  const stopping = gateway.logs.find((line) => line.msg?.startsWith("stopping") === true);
  if (exit !== 0) problems.push(`the gateway's exit code on SIGTERM was ${String(exit)}`);
  if (stopping !== undefined && stopping.sessions !== 0) {
    problems.push(`${String(stopping.sessions)} session(s) left at shutdown`);
  }
  if (gateway.stderr !== "") problems.push(`stderr: ${gateway.stderr.slice(0, 500)}`);
  await backend.close();
  await mute.close();

  const summary = [...done].map(([name, count]) => `${name} ${count}`).join(", ");
  process.stdout.write(`\nsoak: ${minutes} minute(s), ${summary}\n`);
  if (problems.length > 0) {
    process.stdout.write(`soak FAILED:\n${problems.map((problem) => `  - ${problem}`).join("\n")}\n`);
    process.exit(1);
  }
  process.stdout.write("soak passed: every scenario as documented, descriptors back, memory flat, clean shutdown\n");
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`soak: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(2);
});
