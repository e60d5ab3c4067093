// The processes of the session relay tests (handover-relay.test.ts), one script in four roles, chosen by argv[2]:
//   old-primary ──cluster.fork──▶ old-worker (a Gateway that hands its sessions over on lane = its index)
//        └──fork──▶ new-primary ──cluster.fork──▶ new-worker (a Gateway that takes every lane that comes)
// Not a test file. Commands and replies are `{ test: ... }` messages: the test talks to the old primary, which asks its
// workers and its successor; the successor's replies come up through it.
import type { ChildProcess } from "node:child_process";
import { fork } from "node:child_process";
import { readdirSync } from "node:fs";
import cluster from "node:cluster";
import { loadConfigText } from "../../src/config/load.js";
import { Gateway } from "../../src/gateway.js";
import { createLogger, type LogLevel } from "../../src/observability/logger.js";
import { relayFromOldPrimary, relayIntoNewPrimary } from "../../src/cluster/handover-relay-primary.js";
import { WorkerRelay } from "../../src/cluster/handover-relay-worker.js";
import { RELAY_TAG } from "../../src/cluster/handover-relay-protocol.js";

export interface Command {
  test: "start" | "upgrade" | "sessions" | "handover";
  yaml?: string;
  workers?: number;
  /**
   * new-primary: SIGKILL itself when the n-th answer comes from its workers, before it is forwarded: the worker
   * wrote it, the old worker never gets it.
   */
  dieOnAnswer?: number;
  /** new-primary: SIGKILL its worker when the n-th answer comes from it (forwarded all the same). */
  killNewWorkerOnAnswer?: number;
  /**
   * old-primary: SIGKILL the old worker once the n-th answer from the new side is forwarded to it: n sessions have
   * reached the new worker by then, and the old worker, paused 64 at a time, cannot have sent them all.
   */
  killOldWorkerOnAnswer?: number;
  settleMs?: number;
}

const SELF = new URL(import.meta.url).pathname;
const role = process.argv[2] ?? "";
const log = createLogger((process.env.RELAY_TEST_LOG ?? "silent") as LogLevel).child({ role, pid: process.pid });

type Reply = Record<string, unknown> & { test: string };

/** This process's open file descriptors: a primary must not keep the sockets it forwarded. */
function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

function up(message: Reply): void {
  if (process.connected) process.send?.(message, undefined, {}, () => undefined);
}

/** The next message of `test` from `from` (a child's channel or `process`). */
function next(from: ChildProcess | NodeJS.Process, test: string, ms = 20_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      from.off("message", look);
      reject(new Error(`${role}: no ${test} within ${ms} ms`));
    }, ms);
    const look = (message: unknown): void => {
      if ((message as Partial<Reply>).test !== test) return;
      clearTimeout(timer);
      from.off("message", look);
      resolve(message as Reply);
    };
    from.on("message", look);
  });
}

/** A forked process says `ready` once it listens: a message sent before would be lost. */
function ready(child: ChildProcess): Promise<Reply> {
  return next(child, "ready");
}

function forkWorkers(count: number, workerRole: string, yaml: string): Promise<Reply[]> {
  // Each worker accepts on its own listening handle, as wsgate's cluster mode does (no round-robin in the primary).
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: SELF, args: [workerRole] });
  const workers: ChildProcess[] = [];
  for (let index = 0; index < count; index++) workers.push(cluster.fork().process);
  primaryWorkers.push(...workers);
  return Promise.all(
    workers.map(async (worker, index) => {
      await ready(worker);
      const started = next(worker, "started");
      worker.send({ test: "start", yaml, index });
      return started;
    }),
  );
}

const primaryWorkers: ChildProcess[] = [];

async function askWorkers(test: string, reply: string): Promise<Reply[]> {
  const live = primaryWorkers.filter((worker) => worker.connected);
  return Promise.all(
    live.map((worker) => {
      const answer = next(worker, reply);
      worker.send({ test });
      return answer;
    }),
  );
}

async function oldPrimary(): Promise<void> {
  let successor: ChildProcess | undefined;
  process.on("message", (message: Command) => {
    if (message.test === "start") {
      void forkWorkers(message.workers ?? 1, "old-worker", message.yaml ?? "").then((started) =>
        up({ test: "started", workers: started }),
      );
    } else if (message.test === "sessions") {
      void (async () => {
        const old = await askWorkers("sessions", "sessions");
        let fresh: Reply = { test: "sessions", workers: [] };
        if (successor?.connected === true) {
          const answer = next(successor, "sessions", 5000).catch(() => fresh);
          successor.send({ test: "sessions" });
          fresh = await answer;
        }
        up({ test: "sessions", old, new: fresh.workers, newPrimaryFds: fresh.fds });
      })();
    } else if (message.test === "upgrade") {
      void (async () => {
        const next_ = fork(SELF, ["new-primary"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
        successor = next_;
        // What the new workers took, as they finish, goes up to the test.
        next_.on("message", (reply: Reply) => {
          if (reply.test === "took") up(reply);
        });
        next_.once("exit", (code, signal) => up({ test: "successorExited", code, signal }));
        await ready(next_);
        const started = next(next_, "started");
        next_.send({
          yaml: message.yaml,
          workers: message.workers,
          dieOnAnswer: message.dieOnAnswer,
          killNewWorkerOnAnswer: message.killNewWorkerOnAnswer,
          test: "start",
        });
        up({ ...(await started), test: "successorStarted" });
        const fdsBefore = openFds();
        const relay = relayFromOldPrimary({ workers: primaryWorkers, successor: next_, log });
        if (message.killOldWorkerOnAnswer !== undefined) {
          onNthRelayed(message.killOldWorkerOnAnswer, [next_], () => primaryWorkers[0]?.kill("SIGKILL"));
        }
        const reports = await Promise.all(
          primaryWorkers.map((worker, lane) => {
            const report = Promise.race([
              next(worker, "handedOver", 60_000),
              new Promise<Reply>((resolve) => worker.once("exit", () => resolve({ test: "handedOver", dead: true }))),
            ]);
            worker.send({ test: "handover", lane, settleMs: message.settleMs });
            return report;
          }),
        );
        await relay.idle(2000);
        const activeLanes = relay.activeLanes;
        relay.close();
        await new Promise((resolve) => setTimeout(resolve, 200));
        up({ test: "upgraded", reports, activeLanes, fds: { before: fdsBefore, after: openFds() } });
      })();
    }
  });
  process.on("disconnect", () => process.exit(0));
}

/**
 * Acts on the n-th relay envelope from `children`. In the new primary it listens before the relay does (the relay's
 * port for a worker is made when a lane begins): dying there loses the message. In the old one it listens after.
 */
function onNthRelayed(nth: number, children: ChildProcess[], act: (child: ChildProcess) => void): void {
  let seen = 0;
  for (const child of children) {
    child.on("message", (message: Record<string, unknown>) => {
      if (message[RELAY_TAG] === 1 && ++seen === nth) act(child);
    });
  }
}

async function newPrimary(): Promise<void> {
  // Before anything arrives: lanes begin with the first message of each.
  relayIntoNewPrimary({ workers: () => primaryWorkers, log });
  process.on("message", (message: Command & { index?: number }) => {
    if (message.test === "start") {
      void forkWorkers(message.workers ?? 1, "new-worker", message.yaml ?? "").then((started) => {
        if (message.dieOnAnswer !== undefined) {
          onNthRelayed(message.dieOnAnswer, primaryWorkers, () => process.kill(process.pid, "SIGKILL"));
        }
        if (message.killNewWorkerOnAnswer !== undefined) {
          onNthRelayed(message.killNewWorkerOnAnswer, primaryWorkers, (worker) => worker.kill("SIGKILL"));
        }
        for (const worker of primaryWorkers) {
          worker.on("message", (reply: Reply) => {
            if (reply.test === "took") up(reply);
          });
        }
        up({ test: "started", workers: started, fds: openFds() });
      });
    } else if (message.test === "sessions") {
      void askWorkers("sessions", "sessions").then((workers) => up({ test: "sessions", workers, fds: openFds() }));
    }
  });
  process.on("disconnect", () => process.exit(0));
}

async function worker(taking: boolean): Promise<void> {
  const relay = new WorkerRelay();
  let gateway: Gateway | undefined;
  process.on("message", (message: Command & { index?: number; lane?: number }) => {
    if (message.test === "start") {
      void (async () => {
        const loaded = loadConfigText(message.yaml ?? "", "relay.yaml");
        if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
        gateway = await Gateway.start(loaded.config, log);
        const running = gateway;
        if (taking) {
          relay.acceptSessions((channel, lane) => {
            void running.takeSessions(channel).done.then((report) => up({ test: "took", lane, report }));
          });
        }
        up({ test: "started", pid: process.pid, port: gateway.listening[0]?.address.port ?? 0 });
      })();
    } else if (message.test === "handover" && gateway !== undefined) {
      const options = message.settleMs === undefined ? {} : { settleMs: message.settleMs };
      void gateway
        .handOverSessions(relay.handoverChannel(message.lane ?? 0), options)
        .then((report) => up({ test: "handedOver", pid: process.pid, report }));
    } else if (message.test === "sessions") {
      up({ test: "sessions", pid: process.pid, count: gateway?.sessions.size ?? 0 });
    }
  });
  // As a wsgate worker does when its primary is gone: its sessions close with 1001, then it exits.
  process.on("disconnect", () => {
    void (gateway?.stop(500) ?? Promise.resolve()).finally(() => process.exit(0));
  });
}

if (role === "old-primary") void oldPrimary();
else if (role === "new-primary") void newPrimary();
else if (role === "old-worker") void worker(false);
else if (role === "new-worker") void worker(true);
up({ test: "ready" });
