// Live sessions handed over under `--workers` (issue 20): old worker → old primary → new primary → new worker, each
// hop a real Node IPC channel between real processes (handover-relay-fixture.ts). This process holds the clients and
// the backend: each session streams numbered messages both ways through a real Gateway while it moves, and whatever
// reaches either end must be in order, with no gap and no repeat.
import assert from "node:assert/strict";
import { fork, type ChildProcess } from "node:child_process";
import type { AddressInfo } from "node:net";
import { after, afterEach, describe, it } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import type { HandOverReport, TakeReport } from "../../src/proxy/handover-types.js";
import { freePort, waitUntil, withTimeout } from "../helpers/net.js";
import type { Command } from "./handover-relay-fixture.js";

const FIXTURE = new URL("./handover-relay-fixture.js", import.meta.url).pathname;

function configYaml(port: number, backendPort: number): string {
  return `kind: HTTPServer
name: front
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /
        backend: main
---
kind: Pipeline
name: main
filters:
  - kind: WebSocketProxy
    name: proxy
    drainWindow: 0
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
`;
}

/** Where numbered streams went wrong, anywhere: both ends of every session report here. */
const violations: string[] = [];

/** One numbered stream's receiving end: `n` must follow `expected` exactly. */
class Sequence {
  expected = 0;
  constructor(private readonly what: string) {}
  take(n: number): void {
    if (n !== this.expected) violations.push(`${this.what}: got ${n}, expected ${this.expected}`);
    this.expected = n + 1;
  }
}

/** Pushes `b<n>` to each connection and echoes `c<n>` as `e<n>`, checking the `c` stream. */
class Backend {
  readonly server: WebSocketServer;
  private readonly timers = new Set<NodeJS.Timeout>();
  constructor(pushMs: number) {
    this.server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    this.server.on("connection", (socket) => {
      const fromClient = new Sequence("backend's c");
      let pushed = 0;
      const timer = setInterval(() => socket.send(`b${pushed++}`), pushMs);
      this.timers.add(timer);
      socket.on("message", (data) => {
        const text = String(data);
        fromClient.take(Number(text.slice(1)));
        socket.send(`e${text.slice(1)}`);
      });
      socket.on("close", () => {
        clearInterval(timer);
        this.timers.delete(timer);
      });
      socket.on("error", () => undefined);
    });
  }
  ready(): Promise<number> {
    return new Promise((resolve) => {
      const address = this.server.address() as AddressInfo | null;
      if (address !== null) resolve(address.port);
      else this.server.once("listening", () => resolve((this.server.address() as AddressInfo).port));
    });
  }
  close(): void {
    for (const timer of this.timers) clearInterval(timer);
    for (const client of this.server.clients) client.terminate();
    this.server.close();
  }
}

/** A client session: sends `c<n>` every `sendMs`, checks the `b` and `e` streams. */
class Session {
  readonly socket: WebSocket;
  private readonly pushes: Sequence;
  private readonly echoes: Sequence;
  private sent = 0;
  private timer: NodeJS.Timeout | undefined;
  closeCode: number | undefined;
  readonly open: Promise<void>;

  constructor(port: number, index: number, sendMs: number) {
    this.pushes = new Sequence(`session ${index}'s b`);
    this.echoes = new Sequence(`session ${index}'s e`);
    this.socket = new WebSocket(`ws://127.0.0.1:${port}/s${index}`);
    this.open = new Promise((resolve, reject) => {
      this.socket.once("open", () => resolve());
      this.socket.once("error", reject);
    });
    this.socket.on("open", () => {
      this.timer = setInterval(() => {
        if (this.socket.readyState === WebSocket.OPEN) this.socket.send(`c${this.sent++}`);
      }, sendMs);
    });
    this.socket.on("message", (data) => {
      const text = String(data);
      const n = Number(text.slice(1));
      if (text[0] === "b") this.pushes.take(n);
      else this.echoes.take(n);
    });
    this.socket.on("close", (code) => {
      this.closeCode = code;
      clearInterval(this.timer);
    });
    this.socket.on("error", () => undefined);
  }

  /** How far both streams have come back to this client. */
  progress(): { pushes: number; echoes: number } {
    return { pushes: this.pushes.expected, echoes: this.echoes.expected };
  }

  stop(): void {
    clearInterval(this.timer);
    this.socket.terminate();
  }
}

interface Reply extends Record<string, unknown> {
  test: string;
}

/** The old primary (and through it everything else), with every process's pid kept to kill at the end. */
class Cluster {
  private readonly replies: Reply[] = [];
  private readonly waiters = new Set<() => void>();
  readonly pids = new Set<number>();

  constructor(readonly primary: ChildProcess) {
    primary.on("message", (reply: Reply) => {
      this.replies.push(reply);
      this.notePids(reply);
      for (const wake of [...this.waiters]) wake();
    });
    if (primary.pid !== undefined) this.pids.add(primary.pid);
  }

  static async start(yaml: string, workers: number): Promise<{ cluster: Cluster; port: number }> {
    const cluster = new Cluster(fork(FIXTURE, ["old-primary"], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    await cluster.next("ready");
    const started = await cluster.ask({ test: "start", yaml, workers }, "started");
    const ports = (started.workers as Array<{ port: number }>).map((worker) => worker.port);
    return { cluster, port: ports[0] ?? 0 };
  }

  ask(command: Command, reply: string, ms = 30_000): Promise<Reply> {
    const answer = this.next(reply, ms);
    this.primary.send(command);
    return answer;
  }

  next(test: string, ms = 30_000): Promise<Reply> {
    return withTimeout(
      new Promise((resolve) => {
        const look = (): void => {
          const index = this.replies.findIndex((reply) => reply.test === test);
          if (index < 0) return;
          this.waiters.delete(look);
          resolve(this.replies.splice(index, 1)[0] as Reply);
        };
        this.waiters.add(look);
        look();
      }),
      ms,
      `the cluster's ${test}`,
    );
  }

  /** Sessions each old and new worker serves (and the new primary's open fds, when it runs). */
  async sessions(): Promise<{ old: number[]; new: number[]; newPrimaryFds?: number }> {
    const reply = await this.ask({ test: "sessions" }, "sessions");
    const counts = (list: unknown): number[] => ((list ?? []) as Array<{ count: number }>).map((one) => one.count);
    return {
      old: counts(reply.old),
      new: counts(reply.new),
      ...(typeof reply.newPrimaryFds === "number" ? { newPrimaryFds: reply.newPrimaryFds } : {}),
    };
  }

  kill(): void {
    for (const pid of this.pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
  }

  private notePids(reply: Reply): void {
    const lists = [reply.workers, reply.reports].filter(Array.isArray) as Array<Array<{ pid?: number }>>;
    for (const list of lists) for (const one of list) if (typeof one.pid === "number") this.pids.add(one.pid);
    if (typeof reply.pid === "number") this.pids.add(reply.pid);
  }
}

const sum = (reports: HandOverReport[], key: "moved" | "failed" | "kept" | "closed"): number =>
  reports.reduce((total, report) => total + report[key], 0);

/** Sessions that still stream: both ends' counters move on past where they were. */
async function allProgress(sessions: Session[], ms: number): Promise<void> {
  const before = sessions.map((session) => session.progress());
  await waitUntil(
    () =>
      sessions.every((session, index) => {
        const now = session.progress();
        const then = before[index] as { pushes: number; echoes: number };
        return now.pushes > then.pushes + 2 && now.echoes > then.echoes + 2;
      }) || undefined,
    ms,
    "every session to stream on",
  );
}

describe("session hand-over relayed through two primaries (--workers)", () => {
  let cluster: Cluster | undefined;
  let backend: Backend | undefined;
  let sessions: Session[] = [];
  let backendPort = 0;
  /** The new cluster's config: the same, on a port of its own (the listeners' move is not the relay's business). */
  const newYaml = async (): Promise<string> => configYaml(await freePort(), backendPort);

  afterEach(() => {
    for (const session of sessions) session.stop();
    sessions = [];
    cluster?.kill();
    cluster = undefined;
    backend?.close();
    backend = undefined;
    violations.length = 0;
  });
  after(() => cluster?.kill());

  async function setUp(options: { workers: number; count: number; sendMs: number; pushMs: number }): Promise<number> {
    backend = new Backend(options.pushMs);
    backendPort = await backend.ready();
    const started = await Cluster.start(configYaml(await freePort(), backendPort), options.workers);
    cluster = started.cluster;
    for (let index = 0; index < options.count; index++) {
      sessions.push(new Session(started.port, index, options.sendMs));
    }
    await withTimeout(Promise.all(sessions.map((session) => session.open)), 20_000, "the sessions to open");
    await allProgress(sessions, 20_000);
    return started.port;
  }

  it("moves streaming sessions across both hops, losing, doubling and reordering nothing", async () => {
    await setUp({ workers: 1, count: 20, sendMs: 3, pushMs: 3 });
    const running = cluster as Cluster;
    const upgraded = await running.ask({ test: "upgrade", workers: 1, yaml: await newYaml() }, "upgraded", 60_000);
    const reports = upgraded.reports as Array<{ report: HandOverReport }>;
    const handed = reports.map((one) => one.report);
    assert.equal(sum(handed, "moved"), 20, JSON.stringify(handed));
    assert.equal(sum(handed, "failed"), 0);
    assert.equal(upgraded.activeLanes, 0, "the old primary forgot the lane once done");
    const took = (await running.next("took")).report as TakeReport;
    assert.deepEqual(took, { taken: 20, closed: 0, refused: 0 });
    await allProgress(sessions, 20_000);
    const served = await running.sessions();
    assert.deepEqual([served.old, served.new], [[0], [20]]);
    assert.deepEqual(violations, []);
    assert.deepEqual(
      sessions.map((session) => session.closeCode),
      sessions.map(() => undefined),
    );
  });

  it("takes a few hundred sessions from two old workers to two new ones in one hand-over", async () => {
    const count = 300;
    await setUp({ workers: 2, count, sendMs: 200, pushMs: 200 });
    const running = cluster as Cluster;
    const before = await running.sessions();
    assert.equal(
      before.old.reduce((a, b) => a + b, 0),
      count,
    );
    const upgraded = await running.ask({ test: "upgrade", workers: 2, yaml: await newYaml() }, "upgraded", 60_000);
    const handed = (upgraded.reports as Array<{ report: HandOverReport }>).map((one) => one.report);
    assert.equal(sum(handed, "moved"), count, JSON.stringify(handed));
    // Neither primary keeps the 600 sockets it forwarded (each closes its copy once written).
    const fds = upgraded.fds as { before: number; after: number };
    assert.ok(fds.after - fds.before < 20, `old primary fds ${JSON.stringify(fds)}`);
    const successorFds = (await running.next("successorStarted")).fds as number;
    await allProgress(sessions, 30_000);
    const after_ = await running.sessions();
    assert.ok(
      (after_.newPrimaryFds ?? 0) - successorFds < 20,
      `new primary fds ${successorFds} -> ${after_.newPrimaryFds}`,
    );
    assert.deepEqual(after_.old, [0, 0]);
    // Lane k went to new worker k: each took what its old worker had.
    assert.deepEqual(after_.new, before.old);
    assert.deepEqual(violations, []);
    assert.equal(sessions.filter((session) => session.closeCode !== undefined).length, 0);
  });

  /** After a hop died mid-way: what moved ends with the dead side, the rest streams on in the old worker, intact. */
  async function expectResumedInOldWorker(running: Cluster, report: HandOverReport, count: number): Promise<void> {
    assert.ok(report.failed > 0, `some sessions were under way: ${JSON.stringify(report)}`);
    assert.ok(report.moved > 0, `some had moved: ${JSON.stringify(report)}`);
    assert.equal(report.moved + report.failed + report.kept, count);
    const stayed = report.failed + report.kept;
    await waitUntil(
      () => sessions.filter((session) => session.closeCode !== undefined).length >= report.moved || undefined,
      20_000,
      "the moved sessions to end with their new worker",
    );
    const alive = sessions.filter((session) => session.closeCode === undefined);
    assert.equal(alive.length, stayed);
    await allProgress(alive, 20_000);
    assert.deepEqual((await running.sessions()).old, [stayed]);
    assert.equal(sessions.filter((session) => session.closeCode === undefined).length, stayed);
    assert.deepEqual(violations, []);
  }

  it("a new primary dying mid-way leaves every unacknowledged session resumed in the old worker", async () => {
    const count = 80;
    await setUp({ workers: 1, count, sendMs: 10, pushMs: 10 });
    const running = cluster as Cluster;
    // The 25th answer never reaches the old worker: the new worker wrote it, and must not act on it alone.
    const command: Command = { test: "upgrade", workers: 1, dieOnAnswer: 25, yaml: await newYaml() };
    const upgraded = await running.ask(command, "upgraded", 60_000);
    const exited = await running.next("successorExited");
    assert.equal(exited.signal, "SIGKILL");
    const reports = upgraded.reports as Array<{ report: HandOverReport }>;
    await expectResumedInOldWorker(running, (reports[0] as { report: HandOverReport }).report, count);
  });

  it("a new worker dying mid-way leaves every unacknowledged session resumed in the old worker", async () => {
    const count = 80;
    await setUp({ workers: 1, count, sendMs: 10, pushMs: 10 });
    const running = cluster as Cluster;
    const command: Command = { test: "upgrade", workers: 1, killNewWorkerOnAnswer: 25, yaml: await newYaml() };
    const upgraded = await running.ask(command, "upgraded", 60_000);
    const reports = upgraded.reports as Array<{ report: HandOverReport }>;
    await expectResumedInOldWorker(running, (reports[0] as { report: HandOverReport }).report, count);
  });

  it("an old worker dying mid-way leaves what reached the new worker running there", async () => {
    // More sessions than the 64 an old worker pauses at once: killed on the 5th answer, it has sent 69 at most.
    const count = 100;
    await setUp({ workers: 1, count, sendMs: 20, pushMs: 20 });
    const running = cluster as Cluster;
    const command: Command = { test: "upgrade", workers: 1, killOldWorkerOnAnswer: 5, yaml: await newYaml() };
    const upgraded = await running.ask(command, "upgraded", 60_000);
    assert.deepEqual(upgraded.reports, [{ test: "handedOver", dead: true }]);
    // Its copies of the sockets are closed: whatever the new worker answered is its own, confirmed or not.
    const took = (await running.next("took")).report as TakeReport;
    assert.ok(took.taken >= 5 && took.taken < count, JSON.stringify(took));
    await waitUntil(
      () => sessions.filter((session) => session.closeCode !== undefined).length >= count - took.taken || undefined,
      20_000,
      "the sessions left in the dead worker to end",
    );
    const alive = sessions.filter((session) => session.closeCode === undefined);
    assert.equal(alive.length, took.taken);
    await allProgress(alive, 20_000);
    assert.deepEqual((await running.sessions()).new, [took.taken]);
    assert.deepEqual(violations, []);
  });
});
