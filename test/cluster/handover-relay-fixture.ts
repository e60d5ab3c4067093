// The processes of the session relay tests (handover-relay.test.ts), one script in four roles, chosen by argv[2]:
//   old-primary ──cluster.fork──▶ old-worker (a Gateway that hands its sessions over on lane = its index)
//        └──fork──▶ new-primary ──cluster.fork──▶ new-worker (a Gateway that takes every lane that comes)
// Not a test file. Commands and replies are `{ test: ... }` messages: the test talks to the old primary, which asks its
// workers and its successor; the successor's replies come up through it.
import type { ChildProcess } from "node:child_process";
import { fork } from "node:child_process";
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
  settleMs?: number;
}

const SELF = new URL(import.meta.url).pathname;
const role = process.argv[2] ?? "";
const log = createLogger((process.env.RELAY_TEST_LOG ?? "silent") as LogLevel).child({ role, pid: process.pid });

type Reply = Record<string, unknown> & { test: string };

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
        let fresh: Reply[] = [];
        if (successor?.connected === true) {
          const answer = next(successor, "sessions", 5000).catch(() => ({ test: "sessions", workers: [] }));
          successor.send({ test: "sessions" });
          fresh = ((await answer).workers as Reply[] | undefined) ?? [];
        }
        up({ test: "sessions", old, new: fresh });
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
          test: "start",
        });
        up({ ...(await started), test: "successorStarted" });
        const relay = relayFromOldPrimary({ workers: primaryWorkers, successor: next_, log });
        const reports = await Promise.all(
          primaryWorkers.map((worker, lane) => {
            const report = next(worker, "handedOver", 60_000);
            worker.send({ test: "handover", lane, settleMs: message.settleMs });
            return report;
          }),
        );
        up({ test: "upgraded", reports, activeLanes: relay.activeLanes });
      })();
    }
  });
  process.on("disconnect", () => process.exit(0));
}

/** Listens before the relay does (its port is made when a lane begins), so the answer dies with this process. */
function dieOnAnswer(nth: number): void {
  let seen = 0;
  for (const worker of primaryWorkers) {
    worker.on("message", (message: Record<string, unknown>) => {
      if (message[RELAY_TAG] === 1 && ++seen === nth) process.kill(process.pid, "SIGKILL");
    });
  }
}

async function newPrimary(): Promise<void> {
  // Before anything arrives: lanes begin with the first message of each.
  relayIntoNewPrimary({ workers: () => primaryWorkers, log });
  process.on("message", (message: Command & { index?: number }) => {
    if (message.test === "start") {
      void forkWorkers(message.workers ?? 1, "new-worker", message.yaml ?? "").then((started) => {
        if (message.dieOnAnswer !== undefined) dieOnAnswer(message.dieOnAnswer);
        for (const worker of primaryWorkers) {
          worker.on("message", (reply: Reply) => {
            if (reply.test === "took") up(reply);
          });
        }
        up({ test: "started", workers: started });
      });
    } else if (message.test === "sessions") {
      void askWorkers("sessions", "sessions").then((workers) => up({ test: "sessions", workers }));
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
