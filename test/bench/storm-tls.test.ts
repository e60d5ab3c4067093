import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";
import { BurstWorkers, failureReason, thin, type StormReply, type TlsRunReply } from "../../bench/burst-load.js";
import { parseOptions } from "../../bench/options.js";
import { percentile, roundRatios, spreadCell, spreadOf } from "../../bench/spread.js";
import { stormClientCap, stormReport, tallyStorm, type StormMeasurement } from "../../bench/storm.js";
import { CERT_SERVERNAME, describeKey, makeCertificate, type BenchCertificate } from "../../bench/tls-certs.js";
import { tallyTlsRun, tlsReport, tlsTargets, type TlsMeasurement } from "../../bench/tls-scenarios.js";
import { fillTemplate, prepareProxy, terminatesTls } from "../../bench/targets.js";

const CLI = fileURLToPath(new URL("../../src/cli.js", import.meta.url));
const TEMPLATES = new URL("../../../bench/targets/", import.meta.url);

describe("bench storm and wss:// options", () => {
  it("runs storm, wss and h2 by default, 5,000 storm clients (500 in quick mode)", () => {
    const full = parseOptions([]);
    assert.deepEqual(full.burstScenarios, ["storm", "wss", "h2"]);
    assert.equal(full.stormClients, 5000);
    assert.equal(parseOptions(["--quick"]).stormClients, 500);
  });

  it("--scenarios names them alone or beside the loops; --storm-clients sets the storm's size", () => {
    const storm = parseOptions(["--scenarios", "storm", "--storm-clients", "1200"]);
    assert.deepEqual(storm.burstScenarios, ["storm"]);
    assert.deepEqual(storm.scenarios, []);
    assert.equal(storm.stormClients, 1200);
    const mixed = parseOptions(["--scenarios", "echo-64,wss"]);
    assert.deepEqual(mixed.burstScenarios, ["wss"]);
    assert.deepEqual(mixed.scenarios, ["echo-64"]);
    assert.deepEqual(parseOptions(["--scenarios", "echo-64"]).burstScenarios, []);
  });
});

function stormReply(over: Partial<StormReply>): StormReply {
  return {
    type: "stormed",
    startedAt: 1000,
    lastEchoAt: 1500,
    echoed: 0,
    failed: 0,
    latencies: [],
    refused: 0,
    problems: {},
    ...over,
  };
}

describe("storm bookkeeping", () => {
  it("sums the workers and times the storm from the first start to the last echo", () => {
    const tally = tallyStorm(
      [
        stormReply({ startedAt: 1000, lastEchoAt: 1800, echoed: 2, latencies: [100, 800] }),
        stormReply({ startedAt: 1010, lastEchoAt: 1400, echoed: 2, latencies: [200, 390] }),
      ],
      4,
    );
    assert.equal(tally.echoed, 4);
    assert.equal(tally.allEchoedMs, 800);
    assert.equal(tally.lastEchoMs, 800);
    assert.equal(tally.p50Ms, 200);
    assert.deepEqual(tally.problems, {});
  });

  it("has no all-echoed time when a client failed, and counts refusals and missing clients", () => {
    const tally = tallyStorm(
      [
        stormReply({
          echoed: 1,
          failed: 2,
          refused: 1,
          latencies: [5],
          problems: { ECONNREFUSED: 1, "close 1011": 1 },
        }),
        stormReply({ echoed: 1, latencies: [6] }),
      ],
      5,
    );
    assert.equal(tally.allEchoedMs, undefined);
    assert.equal(tally.lastEchoMs, 500);
    assert.equal(tally.failed, 2);
    assert.equal(tally.refused, 1);
    assert.deepEqual(tally.problems, { ECONNREFUSED: 1, "close 1011": 1, "clients unaccounted for": 1 });
  });

  it("caps the clients by the open-file limit (two descriptors each at the proxy)", () => {
    assert.equal(stormClientCap(20_000), 9744);
    assert.equal(stormClientCap(100), 1);
  });

  it("reports per phase a row per target with ratios taken round by round", () => {
    const m = (target: "direct" | "nginx" | "wsgate", round: number, ms: number): StormMeasurement => ({
      round,
      target,
      phase: "warm",
      clients: 10,
      echoed: 10,
      failed: 0,
      refused: 0,
      allEchoedMs: ms,
      peakRssKiB: 2048,
      problems: {},
    });
    const text = stormReport(
      [
        m("direct", 1, 100),
        m("nginx", 1, 200),
        m("wsgate", 1, 300),
        m("direct", 2, 200),
        m("nginx", 2, 200),
        m("wsgate", 2, 800),
      ],
      ["direct", "nginx", "wsgate"],
      10,
    );
    // wsgate: 3× and 4× direct, 1.5× and 4× nginx.
    assert.match(text, /\| wsgate \| 550 \[300–800\] \| 3\.50× \[3\.00–4\.00\] \| 2\.75× \[1\.50–4\.00\] \|/);
    assert.match(text, /\*\*restarted\*\*/);
  });

  it("times a storm where some clients failed to its last echo, and marks it", () => {
    const failed: StormMeasurement = {
      round: 1,
      target: "wsgate",
      phase: "restarted",
      clients: 10,
      echoed: 9,
      failed: 1,
      refused: 0,
      lastEchoMs: 700,
      problems: { ECONNRESET: 1 },
    };
    const text = stormReport([failed], ["wsgate"], 10);
    assert.match(text, /\| wsgate \| 700 \* \|/);
    assert.match(text, /\| 9\/10 \| 0 \| ECONNRESET ×1 \|/);
    assert.match(text, /timed to their last echo/);
  });
});

describe("round spread", () => {
  it("gives the median and range of the finite values", () => {
    assert.deepEqual(spreadOf([3, undefined, 1, Number.NaN, 2]), { median: 2, min: 1, max: 3, count: 3 });
    assert.equal(spreadOf([undefined]), undefined);
    assert.equal(spreadCell(spreadOf([1.234]), 2, "×"), "1.23×");
    assert.equal(spreadCell(spreadOf([1, 2, 4]), 1), "2.0 [1.0–4.0]");
    assert.equal(spreadCell(undefined, 1), "—");
  });

  it("takes ratios only in rounds where both sides were measured", () => {
    const figures = [
      { round: 1, target: "a", value: 2 },
      { round: 1, target: "b", value: 4 },
      { round: 2, target: "a", value: 3 },
      { round: 3, target: "a", value: 5 },
      { round: 3, target: "b", value: 0 },
      { round: 4, target: "a", value: undefined },
      { round: 4, target: "b", value: 1 },
    ];
    assert.deepEqual(roundRatios(figures, "a", "b"), [0.5]);
  });

  it("picks nearest-rank percentiles", () => {
    assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
    assert.equal(percentile([5, 1, 4, 2, 3], 99), 5);
    assert.equal(percentile([], 50), undefined);
  });
});

describe("burst load helpers", () => {
  it("names a failure by error code, HTTP status, or close code", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    assert.equal(failureReason(refused, 1006), "ECONNREFUSED");
    assert.equal(failureReason(new Error("Unexpected server response: 503"), 1006), "HTTP 503");
    assert.equal(failureReason(undefined, 1011), "close 1011");
  });

  it("thins a sample to at most the cap, keeping the first value", () => {
    assert.deepEqual(thin([1, 2, 3], 5), [1, 2, 3]);
    const thinned = thin(
      Array.from({ length: 100 }, (_, i) => i),
      10,
    );
    assert.equal(thinned.length, 10);
    assert.equal(thinned[0], 0);
    assert.equal(thinned[9], 90);
  });
});

describe("wss:// bookkeeping", () => {
  const reply = (over: Partial<TlsRunReply>): TlsRunReply => ({
    type: "tls-result",
    count: 0,
    elapsedMs: 1000,
    latencies: [],
    handshakes: 0,
    resumed: 0,
    protocols: {},
    sample: undefined,
    problems: {},
    ...over,
  });

  it("sums rates, handshakes, resumptions and protocols over workers", () => {
    const tally = tallyTlsRun([
      reply({ count: 100, elapsedMs: 1000, handshakes: 100, resumed: 99, protocols: { "TLSv1.3": 100 } }),
      reply({
        count: 50,
        elapsedMs: 500,
        handshakes: 50,
        resumed: 50,
        protocols: { "TLSv1.3": 50 },
        sample: { protocol: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", resumed: true },
      }),
    ]);
    assert.equal(tally.ops, 150);
    assert.equal(tally.rate, 200);
    assert.equal(tally.handshakes, 150);
    assert.equal(tally.resumed, 149);
    assert.deepEqual(tally.protocols, { "TLSv1.3": 150 });
    assert.equal(tally.sample?.resumed, true);
  });

  it("runs direct and the targets that terminate TLS, not http-proxy", () => {
    assert.deepEqual(tlsTargets(["direct", "wsgate", "wsgate-aware", "nginx", "haproxy", "http-proxy"]), [
      "direct",
      "wsgate",
      "wsgate-aware",
      "nginx",
      "haproxy",
    ]);
    assert.equal(terminatesTls("http-proxy"), false);
  });

  it("stops a cycle run after the count it was given (the cycles' warm-up), well before its time limit", async () => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    server.on("connection", (ws) => ws.on("message", (data, binary) => ws.send(data, { binary })));
    await new Promise<void>((resolve) => server.once("listening", resolve));
    const { port } = server.address() as AddressInfo;
    const workers = await BurstWorkers.start(1, () => {});
    try {
      const began = Date.now();
      const [reply] = await workers.allOf(
        [
          {
            type: "tls-run",
            kind: "cycle",
            url: `ws://127.0.0.1:${port}/ws`,
            size: 64,
            loops: 3,
            durationMs: 20_000,
            cycles: 7,
            tls: undefined,
            resume: false,
          },
        ],
        "tls-result",
        30_000,
      );
      assert.equal(reply?.count, 7, "exactly the cycles asked for, each echoed and closed");
      assert.deepEqual(reply?.problems, {});
      assert.ok(Date.now() - began < 15_000, "ended by the count, not by the 20 s limit");
    } finally {
      workers.stop();
      server.close();
    }
  });

  it("says how the cycle scenarios were warmed", () => {
    assert.match(tlsReport([], ["nginx"], "ECDSA prime256v1", 5000), /after 5,000 unmeasured cycles on the same proxy/);
    assert.doesNotMatch(tlsReport([], ["nginx"], "ECDSA prime256v1"), /unmeasured cycles/);
  });

  it("reports CPU against nginx round by round and the share of resumed handshakes", () => {
    const m = (target: "direct" | "nginx" | "wsgate", round: number, cpu: number | undefined): TlsMeasurement => ({
      round,
      target,
      scenario: "wss-cycle-resumed",
      ops: 10,
      rate: 100,
      proxyCpuUsPerOp: cpu,
      handshakes: 10,
      resumed: 9,
      protocols: { "TLSv1.3": 10 },
      problems: {},
    });
    const text = tlsReport(
      [m("direct", 1, undefined), m("nginx", 1, 100), m("wsgate", 1, 130), m("nginx", 2, 200), m("wsgate", 2, 200)],
      ["direct", "nginx", "wsgate"],
      "ECDSA prime256v1",
    );
    assert.match(
      text,
      /\| wss-cycle-resumed \| wsgate \| 100 \[100–100\] conn\/s \| 1\.00× \| 165\.0 \[130\.0–200\.0\] \| 1\.15× \[1\.00–1\.30\] \|/,
    );
    assert.match(text, /\| 18\/20 \| TLSv1\.3 ×20 \|/);
  });
});

describe("bench certificate", () => {
  let dir: string;
  let certificate: BenchCertificate;
  before(() => {
    dir = mkdtempSync(join(os.tmpdir(), "bench-cert-"));
    certificate = makeCertificate(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("is ECDSA P-256 for localhost and 127.0.0.1, its combined file readable by its owner only", () => {
    assert.equal(describeKey(certificate.certPem), "ECDSA prime256v1");
    const x509 = new X509Certificate(certificate.certPem);
    assert.match(x509.subjectAltName ?? "", /DNS:localhost/);
    assert.match(x509.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.equal(statSync(certificate.pemFile).mode & 0o077, 0);
    assert.match(readFileSync(certificate.pemFile, "utf8"), /BEGIN CERTIFICATE[\s\S]*PRIVATE KEY/);
  });

  it("serves a TLS 1.3 handshake that verifies against itself, and resumes with the ticket it issued", async () => {
    const server = tls.createServer(
      { cert: certificate.certPem, key: readFileSync(certificate.keyFile), minVersion: "TLSv1.3" },
      (socket) => socket.end("ok"),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const connect = (session?: Buffer) =>
      new Promise<{ protocol: string | null; resumed: boolean; session: Buffer | undefined }>((resolve, reject) => {
        let ticket: Buffer | undefined;
        const socket = tls.connect({
          host: "127.0.0.1",
          port,
          servername: CERT_SERVERNAME,
          ca: certificate.certPem,
          ...(session === undefined ? {} : { session }),
        });
        const timer = setTimeout(() => reject(new Error("no TLS handshake within 5 s")), 5000);
        socket.on("session", (value: Buffer) => (ticket = value));
        socket.once("error", reject);
        socket.once("secureConnect", () => {
          const protocol = socket.getProtocol();
          const resumed = socket.isSessionReused();
          socket.once("close", () => {
            clearTimeout(timer);
            resolve({ protocol, resumed, session: ticket });
          });
          socket.resume();
        });
      });
    try {
      const first = await connect();
      assert.equal(first.protocol, "TLSv1.3");
      assert.equal(first.resumed, false);
      assert.ok(first.session, "the server sent a session ticket");
      const second = await connect(first.session);
      assert.equal(second.resumed, true);
    } finally {
      server.close();
    }
  });

  it("fills every TLS template; wsgate validates its TLS configs", () => {
    const values = {
      port: 8443,
      backendPort: 2,
      dir,
      maxConnections: 3,
      maxFiles: 4,
      connectionSlots: 5,
      certFile: certificate.certFile,
      keyFile: certificate.keyFile,
      pemFile: certificate.pemFile,
    };
    for (const name of ["nginx-tls.conf", "haproxy-tls.cfg", "wsgate-tls.yaml", "wsgate-aware-tls.yaml"]) {
      const filled = fillTemplate(readFileSync(new URL(name, TEMPLATES), "utf8"), values);
      assert.doesNotMatch(filled, /\$\{[A-Za-z]+\}/, name);
      assert.match(filled, /TLSv1\.3/, name);
    }
    for (const target of ["wsgate", "wsgate-aware"] as const) {
      const targetDir = mkdtempSync(join(dir, `${target}-`));
      const command = prepareProxy(target, {
        port: 8443,
        backendPort: 9000,
        dir: targetDir,
        maxFiles: 1024,
        baseline: undefined,
        tls: certificate,
      });
      const config = command[command.indexOf("--config") + 1] as string;
      assert.match(readFileSync(config, "utf8"), /https: true/);
      // Exits 1 with the errors printed when the config is not valid.
      execFileSync(process.execPath, [CLI, "validate", config], { stdio: "pipe", timeout: 20_000 });
    }
  });
});
