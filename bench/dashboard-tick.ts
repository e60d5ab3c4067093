/**
 * `node dist/bench/dashboard-tick.js [--sessions N] [--ticks N]`: what one dashboard sample costs, through a real
 * gateway with N idle WebSocket sessions (all in this process). Times the feed's tick as the page's stream does it
 * (the reads, the rates, the state, and the two events serialised), once reading the control's cheap paths
 * (`chartTotals`, `sessionSummary`) and once the old way (the whole exposition rendered and parsed, every session's
 * view), alternating in rounds. Bytes allocated come from V8's sampling heap profiler, counting collected objects too.
 */
import { Session } from "node:inspector/promises";
import { createServer } from "node:net";
import { parseArgs } from "node:util";
import WebSocket, { WebSocketServer } from "ws";
import { DashboardFeed, type DashboardState, type RateSample } from "../src/admin/dashboard/feed.js";
import { loadConfigText } from "../src/config/load.js";
import type { GatewayControl } from "../src/control/control.js";
import { LocalControl } from "../src/control/local-control.js";
import { MemoryObjectStore } from "../src/control/memory-store.js";
import { Gateway } from "../src/gateway.js";
import { createLogger } from "../src/observability/logger.js";

const { values: args } = parseArgs({
  options: {
    sessions: { type: "string", default: "2000" },
    ticks: { type: "string", default: "20" },
    rounds: { type: "string", default: "3" },
  },
});
const SESSIONS = Number(args.sessions);
const TICKS = Number(args.ticks);
const ROUNDS = Number(args.rounds);

interface HeapNode {
  selfSize: number;
  children: HeapNode[];
}

function heapBytes(node: HeapNode): number {
  return node.children.reduce((sum, child) => sum + heapBytes(child), node.selfSize);
}

/** The same control with only the methods every control has: the feed takes its old, full path. */
function fullReadsOnly(control: GatewayControl): GatewayControl {
  return {
    store: control.store,
    sources: control.sources,
    sessions: () => control.sessions(),
    closeSession: (id, code, reason) => control.closeSession(id, code, reason),
    drainServer: (server, overMs, pool) => control.drainServer(server, overMs, pool),
    status: () => control.status(),
    metrics: () => control.metrics(),
    settled: () => control.settled(),
  };
}

async function measure(
  control: GatewayControl,
  inspector: Session,
): Promise<{ cpuUsPerTick: number; kbPerTick: number; eventBytes: number }> {
  const feed = new DashboardFeed(control, undefined, undefined);
  let eventBytes = 0;
  // As the stream does: both events serialised for the page.
  const unsubscribe = feed.subscribe({
    history: () => undefined,
    sample: (sample: RateSample, state: DashboardState) => {
      eventBytes = JSON.stringify(sample).length + JSON.stringify(state).length;
    },
  });
  const tick = (): Promise<void> => (feed as unknown as { tick(): Promise<void> }).tick();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await tick();
  await inspector.post("HeapProfiler.startSampling", {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const start = process.cpuUsage();
  for (let i = 0; i < TICKS; i++) await tick();
  const used = process.cpuUsage(start);
  const { profile } = (await inspector.post("HeapProfiler.stopSampling")) as { profile: { head: HeapNode } };
  unsubscribe();
  return {
    cpuUsPerTick: (used.user + used.system) / TICKS,
    kbPerTick: heapBytes(profile.head) / TICKS / 1024,
    eventBytes,
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function main(): Promise<void> {
  const backend = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => backend.once("listening", resolve));
  backend.on("connection", (socket) => socket.on("message", (data) => socket.send(data)));
  const backendPort = (backend.address() as { port: number }).port;
  const port = await freePort();
  const text = `kind: HTTPServer\nname: edge\nport: ${port}\naddress: 127.0.0.1\nrules:\n  - paths:\n      - path: /ws\n        backend: echo\n---\nkind: Pipeline\nname: echo\nfilters:\n  - kind: WebSocketProxy\n    name: proxy\n    pools:\n      - servers:\n          - url: ws://127.0.0.1:${backendPort}\n`;
  const loaded = loadConfigText(text, "dashboard-tick.yaml");
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const log = createLogger("error");
  const gateway = await Gateway.start(loaded.config, log);
  const clients: WebSocket[] = [];
  for (let i = 0; i < SESSIONS; i += 100) {
    const batch = Array.from({ length: Math.min(100, SESSIONS - i) }, () => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      clients.push(socket);
      return new Promise<void>((resolve, reject) => {
        socket.once("open", () => {
          socket.send("hello");
          resolve();
        });
        socket.once("error", reject);
      });
    });
    await Promise.all(batch);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const control = new LocalControl(new MemoryObjectStore(loaded.config.objects), gateway, log);
  const inspector = new Session();
  inspector.connect();
  console.log(`${gateway.sessions.size} live sessions, ${TICKS} ticks per measurement, ${ROUNDS} rounds`);
  const rows: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order: Array<[string, GatewayControl]> = [
      ["cheap reads", control],
      ["full reads (old)", fullReadsOnly(control)],
    ];
    if (round % 2 === 0) order.reverse();
    for (const [name, which] of order) {
      const { cpuUsPerTick, kbPerTick, eventBytes } = await measure(which, inspector);
      rows.push(
        `round ${round}  ${name.padEnd(17)} ${cpuUsPerTick.toFixed(0).padStart(7)} µs CPU/tick  ` +
          `${kbPerTick.toFixed(0).padStart(7)} KiB allocated/tick  events ${eventBytes} B`,
      );
      console.log(rows[rows.length - 1]);
    }
  }
  inspector.disconnect();
  for (const socket of clients) socket.terminate();
  await gateway.stop(0);
  backend.close();
}

await main();
