import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { compareWithBaseline, roundOrder } from "../../bench/baseline.js";
import {
  DASHBOARD_PAIR,
  DashboardStream,
  countEvent,
  dashboardSection,
  openDashboardStream,
} from "../../bench/dashboard-load.js";
import { freePort } from "../helpers/net.js";
import { parseOptions } from "../../bench/options.js";
import { countGc, moduleOf, parseStraceSummary, summarizeProfiles } from "../../bench/profile.js";
import type { RunCommand } from "../../bench/protocol.js";
import { LOOP_SCENARIOS, SCENARIO_NAMES } from "../../bench/scenarios.js";
import type { Measurement } from "../../bench/summary.js";
import { fillTemplate, type TargetName } from "../../bench/targets.js";
import { cycleCommands, freshProxy, orderLine, warmthSection } from "../../bench/warmup.js";
import { scaling, splitPerOp, workersSection } from "../../bench/workers-model.js";
import { loadConfigText } from "../../src/config/load.js";

const TEMPLATES = new URL("../../../bench/targets/", import.meta.url);

function handshake(scenario: Measurement["scenario"], target: TargetName, round: number, cpu: number): Measurement {
  return {
    scenario,
    target,
    round,
    rate: 1000,
    proxyCpuUsPerOp: cpu,
    p50Ms: 20,
    p99Ms: 40,
    ops: 1,
    elapsedMs: 1,
    problems: {},
  };
}

describe("bench: handshake warm-up by cycle count", () => {
  it("defaults to 5,000 warm-up cycles and 2,000 cold ones (500 and 300 quick), and takes both from the command line", () => {
    const full = parseOptions([]);
    assert.equal(full.warmCycles, 5000);
    assert.equal(full.coldCycles, 2000);
    const quick = parseOptions(["--quick"]);
    assert.equal(quick.warmCycles, 500);
    assert.equal(quick.coldCycles, 300);
    const set = parseOptions(["--warm-cycles", "1234", "--cold-cycles", "77"]);
    assert.equal(set.warmCycles, 1234);
    assert.equal(set.coldCycles, 77);
    assert.equal(parseOptions(["--warm-cycles", "0"]).warmCycles, 0);
  });

  it("splits the cycles and the loops between the workers, bounded in time, recorded only when measured", () => {
    const commands = cycleCommands(LOOP_SCENARIOS.handshake, "ws://x/ws", 3, 5000, false) as RunCommand[];
    assert.equal(commands.length, 3);
    assert.deepEqual(
      commands.map((c) => c.cycles),
      [1667, 1667, 1666],
    );
    assert.equal(
      commands.reduce((sum, c) => sum + c.loops, 0),
      50,
    );
    for (const command of commands) {
      assert.equal(command.kind, "handshake");
      assert.equal(command.record, false);
      assert.ok(command.durationMs >= 60_000, "a count of cycles is still bounded in time");
    }
    assert.equal((cycleCommands(LOOP_SCENARIOS["handshake-cold"], "u", 2, 10, true)[0] as RunCommand).record, true);
  });

  it("runs handshake-cold on a fresh proxy, like idle, and the order line says what ran when", () => {
    assert.ok(SCENARIO_NAMES.includes("handshake-cold"));
    assert.equal(freshProxy("handshake-cold"), true);
    assert.equal(freshProxy("idle"), true);
    assert.equal(freshProxy("handshake"), false);
    const line = orderLine(["echo-64", "handshake", "handshake-cold"], ["direct", "wsgate"], 5000, 2000, 1);
    assert.match(line, /scenarios echo-64 → handshake → handshake-cold/);
    assert.match(line, /targets direct → wsgate/);
    assert.match(line, /after 5,000 unmeasured cycles/);
    assert.match(line, /first 2,000 cycles of a freshly started proxy/);
  });

  it("reports warm and cold CPU per cycle per target with the per-round cold ÷ warm", () => {
    const options = parseOptions(["--targets", "wsgate", "--scenarios", "handshake,handshake-cold"]);
    const text = warmthSection(
      [
        handshake("handshake", "wsgate", 1, 400),
        handshake("handshake", "wsgate", 2, 500),
        handshake("handshake-cold", "wsgate", 1, 800),
        handshake("handshake-cold", "wsgate", 2, 1500),
      ],
      options,
    );
    assert.ok(text !== undefined);
    // Warm median 450 (400–500), cold 1150 (800–1500), cold ÷ warm per round 2.00 and 3.00.
    assert.match(
      text,
      /\| wsgate \| 450 \(400–500\) \| 1000 \(1000–1000\) \| 1150 \(800–1500\) \| 1000 \(1000–1000\) \| 2\.50 \(2\.00–3\.00\) \|/,
    );
    assert.equal(warmthSection([], parseOptions(["--scenarios", "echo-64"])), undefined);
  });
});

describe("bench: --workers 2 scaling model", () => {
  it("turns CPU ticks into µs per operation, and refuses a split where a process went away", () => {
    const before = { primaryUser: 100, primarySystem: 50, othersUser: 1000, othersSystem: 400 };
    const after = { primaryUser: 110, primarySystem: 55, othersUser: 1100, othersSystem: 440 };
    // 100 ticks/s, 1,000 ops: 10 ticks = 0.1 s = 100 µs per op.
    assert.deepEqual(splitPerOp(before, after, 100, 1000), {
      primaryUser: 100,
      primarySystem: 50,
      othersUser: 1000,
      othersSystem: 400,
    });
    assert.equal(splitPerOp(before, { ...after, othersUser: 900 }, 100, 1000), undefined);
    assert.equal(splitPerOp(before, after, 100, 0), undefined);
  });

  it("expects N / (workers + primary) until the one primary saturates", () => {
    // One process 400 µs/op; with workers 380 + primary 40 = 420 µs/op.
    const rows = scaling(
      { oneProcess: 400, primary: 40, workers: 380, primarySystem: 10, workersSystem: 100 },
      [1, 2, 8, 16],
    );
    assert.equal(rows[0]?.limitedBy, "cores");
    assert.ok(Math.abs((rows[0]?.speedup ?? 0) - 400 / 420) < 1e-9);
    assert.ok(Math.abs((rows[1]?.speedup ?? 0) - 800 / 420) < 1e-9);
    assert.ok(Math.abs((rows[2]?.opsPerS ?? 0) - 8e6 / 420) < 1e-6);
    // 16 cores: 16 / 420 µs = 38,095/s, over the primary's 1 / 40 µs = 25,000/s.
    assert.equal(rows[3]?.limitedBy, "primary");
    assert.ok(Math.abs((rows[3]?.opsPerS ?? 0) - 25_000) < 1e-6);
    assert.ok(Math.abs((rows[3]?.speedup ?? 0) - 10) < 1e-9);
  });

  it("reports per-operation CPU of both targets and the model's rows per scenario", () => {
    const m = (target: TargetName, round: number, total: number, primary: number): Measurement => ({
      ...handshake("handshake", target, round, total),
      proxyCpuSplit: { primaryUser: primary, primarySystem: 0, othersUser: total - primary - 100, othersSystem: 100 },
    });
    const text = workersSection(
      [
        m("wsgate-aware", 1, 400, 400),
        m("wsgate-workers", 1, 420, 40),
        m("wsgate-aware", 2, 400, 400),
        m("wsgate-workers", 2, 440, 40),
      ],
      ["handshake"],
    );
    assert.ok(text !== undefined);
    assert.match(text, /\| handshake \| 400\.0 .*\| 430\.0 \| 40\.0 \(9%\) \| 390\.0 \|/);
    assert.match(text, /\| 1\.07× \(1\.05–1\.10\) \|/);
    assert.equal(workersSection([], ["handshake"]), undefined);
  });
});

describe("bench: --dashboard", () => {
  it("adds wsgate-aware-dashboard right after wsgate-aware, swaps the pair in even rounds, and needs wsgate-aware", () => {
    const options = parseOptions(["--quick", "--targets", "wsgate-aware,nginx", "--dashboard"]);
    assert.deepEqual(options.targets, ["direct", "wsgate-aware", "wsgate-aware-dashboard", "nginx"]);
    assert.equal(parseOptions(["--quick"]).targets.includes("wsgate-aware-dashboard"), false);
    const pairs = [DASHBOARD_PAIR];
    assert.deepEqual(roundOrder(options.targets, 1, pairs), options.targets);
    assert.deepEqual(roundOrder(options.targets, 2, pairs), [
      "direct",
      "wsgate-aware-dashboard",
      "wsgate-aware",
      "nginx",
    ]);
  });

  it("compares page open with closed round by round", () => {
    const measurements = [
      handshake("handshake", "wsgate-aware", 1, 400),
      handshake("handshake", "wsgate-aware-dashboard", 1, 420),
      handshake("handshake", "wsgate-aware", 2, 400),
      handshake("handshake", "wsgate-aware-dashboard", 2, 380),
    ];
    for (const m of measurements)
      if (m.target === "wsgate-aware-dashboard") m.dashboard = { status: 200, events: { sample: 5 }, ended: "open" };
    const comparisons = compareWithBaseline(
      measurements,
      ["handshake"],
      ["wsgate-aware", "wsgate-aware-dashboard"],
      [DASHBOARD_PAIR],
    );
    const cpu = comparisons.find((c) => c.metric === "proxy CPU µs/op");
    assert.deepEqual(
      cpu?.perRound.map((r) => r.ratio),
      [1.05, 0.95],
    );
    const text = dashboardSection(comparisons, measurements);
    assert.match(text, /\| handshake \| 1\.00× \(1\.00–1\.00\) \| 1\.00× \(0\.95–1\.05\) \|/);
    assert.match(text, /open in 2 of 2 measurements/);
  });

  it("counts server-sent events by name", () => {
    const events: Record<string, number> = {};
    countEvent(events, "event: sample\ndata: {}");
    countEvent(events, "event: sample\ndata: {}");
    countEvent(events, "data: plain");
    assert.deepEqual(events, { sample: 2, message: 1 });
  });

  it("holds a stream open with the bearer token and counts what arrives, split across reads", async () => {
    let seenAuth: string | undefined;
    const server = http.createServer((request, response) => {
      seenAuth = request.headers.authorization;
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write("event: history\ndata: []\n\nevent: sam");
      setTimeout(() => response.write("ple\ndata: {}\n\n"), 20);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const stream = new DashboardStream((server.address() as AddressInfo).port, "t0ken-for-the-test");
    try {
      await stream.ready(3000);
      for (let i = 0; i < 100 && stream.eventCount < 2; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(seenAuth, "Bearer t0ken-for-the-test");
      assert.equal(stream.stats.status, 200);
      assert.deepEqual(stream.stats.events, { history: 1, sample: 1 });
      assert.equal(stream.stats.ended, "open");
    } finally {
      stream.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    assert.equal(stream.stats.ended, "closed by the bench");
  });
});

describe("bench: --dashboard's stream opening", () => {
  it("waits for an admin listener that opens a moment after the proxy's port", async () => {
    const port = await freePort();
    const server = http.createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write("event: history\ndata: []\n\n");
    });
    const late = setTimeout(() => server.listen(port, "127.0.0.1"), 300);
    const stream = await openDashboardStream(port, 5000, "t0ken-for-the-test");
    try {
      assert.equal(stream.stats.status, 200);
      assert.equal(stream.stats.ended, "open");
      assert.deepEqual(stream.stats.events, { history: 1 });
    } finally {
      clearTimeout(late);
      stream.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("bench: --profile", () => {
  it("takes one proxy target", () => {
    assert.equal(parseOptions(["--profile", "wsgate-aware"]).profile, "wsgate-aware");
    assert.equal(parseOptions(["--profile", "wsgate-aware-dashboard"]).profile, "wsgate-aware-dashboard");
    assert.equal(parseOptions([]).profile, undefined);
  });

  it("reads strace -c's table as calls and errors per cycle", () => {
    const text = [
      "% time     seconds  usecs/call     calls    errors syscall",
      "------ ----------- ----------- --------- --------- ----------------",
      " 91.57    3.023895        7813       387        73 futex",
      "  1.91    0.063173          22      2846           write",
      "  1.26    0.041762          12      3318       474 epoll_ctl",
      "------ ----------- ----------- --------- --------- ----------------",
      "100.00    3.302282         241     13660      1021 total",
    ].join("\n");
    const counts = parseStraceSummary(text, 474);
    assert.deepEqual(
      counts.map((c) => c.syscall),
      ["epoll_ctl", "write", "futex"],
    );
    assert.equal(counts[0]?.perCycle, 7);
    assert.equal(counts[0]?.errorsPerCycle, 1);
    assert.equal(counts[1]?.errorsPerCycle, 0);
    assert.equal(counts[2]?.usPerCall, 7813);
  });

  it("counts --trace-gc lines by kind", () => {
    assert.deepEqual(
      countGc({
        "output: xabc ms: Scavenge  () -> () MB": 13,
        "output: xabc ms: Mark-Compact  () -> () MB": 2,
        "warn: something else": 4,
      }),
      { scavenges: 13, markCompacts: 2, other: 0 },
    );
  });

  it("adds self time per function and module inside the window only, idle left out", () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 9 });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", ""), children: [2, 3, 4] },
        { id: 2, callFrame: frame("relay", "file:///w/dist/src/websocket/relay.js") },
        { id: 3, callFrame: frame("(idle)", "") },
        { id: 4, callFrame: frame("emit", "node:events") },
      ],
      // Samples at 100, 200, ..., 600 µs, each standing for 100 µs.
      samples: [2, 2, 3, 4, 2, 4],
      timeDeltas: [100, 100, 100, 100, 100, 100],
      startTime: 0,
      endTime: 700,
    };
    // Window 150–550 µs: samples at 200 (relay), 300 (idle), 400 (emit), 500 (relay).
    const summary = summarizeProfiles([{ profile, fromUs: 150, toUs: 550 }], 2);
    assert.equal(summary.sampledUsPerCycle, 150);
    assert.deepEqual(
      summary.byFunction.map((r) => [r.name, r.usPerCycle]),
      [
        ["relay dist/src/websocket/relay.js:10", 100],
        ["emit node:events:10", 50],
      ],
    );
    assert.deepEqual(
      summary.byModule.map((r) => r.name),
      ["wsgate websocket", "node:events"],
    );
    assert.equal(moduleOf("", "writeBuffer"), "native writeBuffer");
    assert.equal(moduleOf("", "(garbage collector)"), "(garbage collector)");
    assert.equal(moduleOf("file:///x/node_modules/prom-client/lib/h.js", "f"), "npm prom-client");
  });
});

describe("bench: wsgate-policies", () => {
  it("is a valid gateway config with heartbeats and rate limits set", () => {
    const text = fillTemplate(readFileSync(new URL("wsgate-policies.yaml", TEMPLATES), "utf8"), {
      port: 8080,
      backendPort: 9090,
    });
    const result = loadConfigText(text, "wsgate-policies.yaml");
    assert.ok(result.ok, result.ok ? "" : JSON.stringify(result.errors));
    for (const field of [
      "pingInterval",
      "clientLimits",
      "serverLimits",
      "frameTimeout",
      "clientMaxByteRate",
      "maxSessionDuration",
    ])
      assert.match(text, new RegExp(`^    ${field}:`, "m"), field);
    assert.match(text, /^ {6}messageRate: \{ rate: \d+, burst: \d+ \}$/m);
  });
});
