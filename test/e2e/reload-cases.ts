// End to end (wsgate run, real backends on 127.0.0.1): what a reload keeps and what it ends, the same cases for each
// way a reload comes: `--watch`, SIGHUP, and the admin API (PUT/POST/DELETE of the objects that differ, or
// `wsgate apply -f`), in one process and with `--workers 2`. The reload-*.test.ts files run these.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import type { SessionView } from "../../src/control/control.js";
import { admin, runCli, type AdminReply } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

export type ReloadTrigger = "watch" | "SIGHUP" | "admin";

export interface ReloadCaseOptions {
  /** `wsgate run --workers N`. */
  workers?: number;
}

/** A backend that answers each message with `name:message`, so that a test sees which backend a session is on. */
function namedEcho(name: string): Promise<TestBackend> {
  return startBackend({
    onConnection: (socket) => socket.on("message", (data) => socket.send(`${name}:${String(data)}`)),
  });
}

interface Session {
  ws: WebSocket;
  /** Settles when the connection closes: the close code and reason, and when. */
  closed: Promise<{ code: number; reason: string; at: number }>;
}

function open(url: string): Promise<Session> {
  return withTimeout(
    new Promise<Session>((resolve, reject) => {
      const ws = new WebSocket(url);
      const closed = new Promise<{ code: number; reason: string; at: number }>((done) =>
        ws.on("close", (code, reason) => done({ code, reason: reason.toString(), at: Date.now() })),
      );
      ws.once("open", () => resolve({ ws, closed }));
      ws.once("error", reject);
    }),
    3000,
    `a session on ${url}`,
  );
}

/** Opens `count` sessions one after the other. */
async function openMany(url: string, count: number): Promise<Session[]> {
  const sessions: Session[] = [];
  for (let i = 0; i < count; i++) sessions.push(await open(url));
  return sessions;
}

function ask(session: Session, text: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      session.ws.once("message", (data) => resolve(String(data)));
      session.ws.send(text);
    }),
    2000,
    `an answer to ${text}`,
  );
}

/** Whether a new WebSocket on `url` is refused (connection refused, or an HTTP answer other than 101). */
function refused(url: string): Promise<boolean> {
  return withTimeout(
    new Promise<boolean>((resolve) => {
      const ws = new WebSocket(url);
      ws.once("open", () => {
        ws.terminate();
        resolve(false);
      });
      ws.once("error", () => resolve(true));
    }),
    3000,
    `the outcome of a connection to ${url}`,
  );
}

interface Route {
  path: string;
  pipeline: string;
}

interface PipelineConfig {
  name: string;
  backends: TestBackend[];
  drainWindow?: string;
}

function configYaml(port: number, routes: Route[], pipelines: PipelineConfig[]): string {
  const paths = routes.map((route) => `      - path: ${route.path}\n        backend: ${route.pipeline}`).join("\n");
  const objects = [
    `kind: HTTPServer\nname: reload-server\nport: ${port}\naddress: 127.0.0.1\nrules:\n  - paths:\n${paths}\n`,
    ...pipelines.map(
      (pipeline) => `kind: Pipeline
name: ${pipeline.name}
filters:
  - kind: WebSocketProxy
    name: proxy
    drainWindow: ${pipeline.drainWindow ?? "200ms"}
    pools:
      - servers:
${pipeline.backends.map((backend) => `          - url: ${backend.url}`).join("\n")}
`,
    ),
  ];
  return objects.join("---\n");
}

/** One object of a config text, as the admin API takes it. */
interface ObjectText {
  kind: string;
  name: string;
  text: string;
}

function objectsOf(yaml: string): ObjectText[] {
  return yaml.split("---\n").map((text) => ({
    kind: /^kind: (\S+)$/m.exec(text)?.[1] ?? "",
    name: /^name: (\S+)$/m.exec(text)?.[1] ?? "",
    text,
  }));
}

/** What a reload did, whichever way it came. */
interface Outcome {
  applied: boolean;
  /** Why not, as the log line (files) or the admin API's answer (admin) gives it. */
  errors: string[];
  /** The admin API's status code of the failed write. */
  status?: number;
  /** Added/updated/deleted/relistened objects and drained sessions, over every step of the reload. */
  summary: { added: string[]; updated: string[]; deleted: string[]; relistened: string[]; drained: number };
}

const isFileOutcome = (line: LogLine): boolean => line.event === "config_applied" || line.event === "config_rejected";
const isAnyOutcome = (line: LogLine): boolean => isFileOutcome(line) || line.event === "config_apply_failed";
const isStoreOutcome = (line: LogLine): boolean => line.event === "config_applied" && line.trigger === "store";

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

function summaryOf(lines: readonly LogLine[]): Outcome["summary"] {
  return {
    added: lines.flatMap((line) => strings(line.added)),
    updated: lines.flatMap((line) => strings(line.updated)),
    deleted: lines.flatMap((line) => strings(line.deleted)),
    relistened: lines.flatMap((line) => strings(line.relistened)),
    drained: lines.reduce((sum, line) => sum + Number(line.drained ?? 0), 0),
  };
}

function adminErrors(reply: AdminReply): string[] {
  const body = reply.json<{ error?: string; errors?: Array<{ line?: number; message?: string }> }>();
  const errors = (body.errors ?? []).map((error) => `request:${String(error.line)} ${String(error.message)}`);
  return errors.length > 0 ? errors : [String(body.error)];
}

export function reloadCases(trigger: ReloadTrigger, options: ReloadCaseOptions = {}): void {
  const workers = options.workers ?? 1;
  const by = trigger === "watch" ? "--watch" : trigger === "SIGHUP" ? "SIGHUP" : "the admin API";
  const title = `config reloads by ${by}${workers > 1 ? ` with --workers ${workers}` : ""} never drop a WebSocket they need not`;
  // A deleted route's sessions: the admin API can only delete a pipeline once no route names it, so its sessions go
  // because their route went; a file reload deletes both at once and names the pipeline.
  const pipelineGoneReason = trigger === "admin" ? "route removed" : "pipeline removed";

  describe(title, () => {
    let a: TestBackend;
    let b: TestBackend;
    let port: number;
    let gateway: GatewayProcess;
    /** What the admin API holds, as the test wrote it (admin trigger). */
    let stored = new Map<string, ObjectText>();
    let cliDir: string;
    /** How many outcome lines the reloads so far must have logged: one for each reload (or each admin write). */
    let outcomeLines = 0;
    const url = (path: string, on = port): string => `ws://127.0.0.1:${on}${path}`;

    async function reloadByFile(yaml: string): Promise<Outcome> {
      const seen = gateway.logs.filter(isFileOutcome).length;
      gateway.rewriteConfig(yaml);
      if (trigger === "SIGHUP") gateway.sighup();
      const lines = await gateway.logsMatching(isFileOutcome, seen + 1, 8000);
      const line = lines[seen] as LogLine;
      outcomeLines++;
      return {
        applied: line.event === "config_applied",
        errors: strings(line.errors),
        summary: summaryOf(line.event === "config_applied" ? [line] : []),
      };
    }

    /**
     * The objects that differ, written one by one as an operator would: pipelines before the servers that route to
     * them, and deletes of servers before those of pipelines. Stops at the first write the API refuses. With `cli`,
     * creates and updates go through `wsgate apply -f`.
     */
    async function reloadByAdmin(yaml: string, cli = false): Promise<Outcome> {
      const seen = gateway.logs.filter(isStoreOutcome).length;
      const next = objectsOf(yaml);
      const rank = (object: ObjectText): number => (object.kind === "Pipeline" ? 0 : 1);
      const writes = next.filter((object) => stored.get(object.name)?.text !== object.text);
      writes.sort((x, y) => rank(x) - rank(y));
      const deletes = [...stored.values()].filter((object) => !next.some((kept) => kept.name === object.name));
      deletes.sort((x, y) => rank(y) - rank(x));
      let steps = 0;
      let failure: Omit<Outcome, "summary"> | undefined;
      for (const object of writes) {
        if (cli) {
          const file = join(cliDir, `${object.name}.yaml`);
          writeFileSync(file, object.text);
          const run = await runCli(["apply", "-f", file, "--server", `http://127.0.0.1:${gateway.adminPort}`]);
          if (run.code !== 0) {
            failure = { applied: false, errors: [run.stderr] };
            break;
          }
        } else {
          const reply = stored.has(object.name)
            ? await admin(gateway.adminPort, "PUT", `/apis/v2/objects/${object.name}`, { body: object.text })
            : await admin(gateway.adminPort, "POST", "/apis/v2/objects", { body: object.text });
          if (reply.status >= 300) {
            failure = { applied: false, errors: adminErrors(reply), status: reply.status };
            break;
          }
        }
        stored.set(object.name, object);
        steps++;
      }
      for (const object of failure === undefined ? deletes : []) {
        const reply = await admin(gateway.adminPort, "DELETE", `/apis/v2/objects/${object.name}`);
        if (reply.status >= 300) {
          failure = { applied: false, errors: adminErrors(reply), status: reply.status };
          break;
        }
        stored.delete(object.name);
        steps++;
      }
      // Each accepted write logs one outcome line, with what it changed; one the gateway could not apply logs why.
      outcomeLines += steps + (failure?.status === 500 ? 1 : 0);
      const lines = steps === 0 ? [] : await gateway.logsMatching(isStoreOutcome, seen + steps, 8000);
      return { applied: failure === undefined, errors: [], ...failure, summary: summaryOf(lines.slice(seen)) };
    }

    /** Makes the gateway take `yaml` by this suite's trigger; returns what it did. */
    function reload(yaml: string, cli = false): Promise<Outcome> {
      return trigger === "admin" ? reloadByAdmin(yaml, cli) : reloadByFile(yaml);
    }

    async function applied(yaml: string, cli = false): Promise<Outcome> {
      const outcome = await reload(yaml, cli);
      assert.equal(outcome.applied, true, `config applied: ${JSON.stringify(outcome)}`);
      return outcome;
    }

    /** The sessions the gateway lists, by the worker that holds them. */
    async function sessionsByWorker(): Promise<Map<string, SessionView[]>> {
      const reply = await admin(gateway.adminPort, "GET", "/apis/v2/sessions");
      assert.equal(reply.status, 200, reply.text);
      const byWorker = new Map<string, SessionView[]>();
      for (const session of reply.json<SessionView[]>()) {
        const worker = /^(\d+)-\d+$/.exec(session.id)?.[1] ?? "-";
        byWorker.set(worker, [...(byWorker.get(worker) ?? []), session]);
      }
      return byWorker;
    }

    /**
     * `count` sessions on `path`, and with workers more until every worker holds one on `pipeline` (bounded): the
     * workers accept on the shared socket themselves (SCHED_NONE), and the kernel may give a burst to one of them.
     */
    async function openSpread(path: string, pipeline: string, count: number): Promise<Session[]> {
      const sessions = await openMany(url(path), count);
      for (let round = 0; workers > 1 && round < 40; round++) {
        const holding = [...(await sessionsByWorker()).values()].filter((held) =>
          held.some((session) => session.pipeline === pipeline),
        );
        if (holding.length >= workers) break;
        sessions.push(await open(url(path)));
      }
      return sessions;
    }

    /** With workers, that sessions on `pipeline` (`count` of them) are held by every worker. */
    async function spreadOverWorkers(pipeline: string, count: number): Promise<void> {
      if (workers < 2) return;
      const byWorker = await sessionsByWorker();
      const holding = [...byWorker.entries()].filter(([, sessions]) =>
        sessions.some((session) => session.pipeline === pipeline),
      );
      assert.equal(holding.length, workers, `every worker holds sessions: ${JSON.stringify([...byWorker.keys()])}`);
      const total = holding.reduce(
        (sum, [, sessions]) => sum + sessions.filter((session) => session.pipeline === pipeline).length,
        0,
      );
      assert.equal(total, count);
    }

    /** The server object as the admin API holds it. */
    async function storedPort(): Promise<number> {
      const reply = await admin(gateway.adminPort, "GET", "/apis/v2/objects/reload-server");
      assert.equal(reply.status, 200, reply.text);
      return Number(reply.json()["port"]);
    }

    /** The status's lastApplyError, "" when there is none. */
    async function lastApplyError(): Promise<string> {
      const reply = await admin(gateway.adminPort, "GET", "/apis/v2/status/objects");
      assert.equal(reply.status, 200, reply.text);
      return String(reply.json()["lastApplyError"] ?? "");
    }

    const base = (): { routes: Route[]; pipelines: PipelineConfig[] } => ({
      routes: [{ path: "/stay", pipeline: "main" }],
      pipelines: [{ name: "main", backends: [a] }],
    });

    before(async () => {
      a = await namedEcho("a");
      b = await namedEcho("b");
      port = await freePort();
      cliDir = mkdtempSync(join(tmpdir(), "wsgate-reload-cli-"));
      const { routes, pipelines } = base();
      const yaml = configYaml(port, routes, pipelines);
      stored = new Map(objectsOf(yaml).map((object) => [object.name, object]));
      // Admin writes go to objects created through the API (a config file's are refused): the admin suites start with
      // theirs in the state file, as a gateway restarted after `wsgate apply` would, and a config file of settings.
      const stateFile = join(cliDir, "objects.wsgate-state");
      if (trigger === "admin") writeFileSync(stateFile, yaml);
      gateway = await GatewayProcess.start(trigger === "admin" ? "kind: Gateway\nname: settings\n" : yaml, {
        admin: true,
        args: [
          ...(trigger === "admin" ? ["--state-file", stateFile] : []),
          ...(trigger === "watch" ? ["--watch"] : []),
          ...(workers > 1 ? ["--workers", String(workers), "--drain-timeout", "2s"] : []),
        ],
      });
    });

    after(async () => {
      await gateway?.stop();
      await a?.close();
      await b?.close();
    });

    it("keeps sessions on an unchanged route echoing through 20 reloads", async () => {
      const sessions = await openSpread("/stay", "main", workers > 1 ? 6 : 1);
      await spreadOverWorkers("main", sessions.length);
      const { routes, pipelines } = base();
      for (let round = 0; round < 20; round++) {
        // Odd rounds add a route and a pipeline (before the kept route, so that its index moves); even ones drop them.
        const extra = round % 2 === 0;
        const outcome = await applied(
          configYaml(
            port,
            extra ? [{ path: "/other", pipeline: "other" }, ...routes] : routes,
            extra ? [...pipelines, { name: "other", backends: [b] }] : pipelines,
          ),
        );
        assert.equal(outcome.summary.drained, 0);
        for (const [index, session] of sessions.entries()) {
          assert.equal(await ask(session, `round ${round} ${index}`), `a:round ${round} ${index}`);
        }
      }
      for (const session of sessions) session.ws.close();
    });

    it("closes sessions on a deleted route with 1001 'route removed'; others go on", async () => {
      const { routes, pipelines } = base();
      await applied(configYaml(port, [...routes, { path: "/gone", pipeline: "main" }], pipelines));
      const count = workers > 1 ? 6 : 1;
      const staying = await openSpread("/stay", "main", count);
      const leaving = await openMany(url("/gone"), count);
      await spreadOverWorkers("main", staying.length + leaving.length);
      for (const session of leaving) assert.equal(await ask(session, "hello"), "a:hello");
      const outcome = await applied(configYaml(port, routes, pipelines));
      assert.equal(outcome.summary.drained, count);
      const closes = await withTimeout(
        Promise.all(leaving.map((session) => session.closed)),
        3000,
        "the deleted route's sessions to close",
      );
      for (const closed of closes) assert.deepEqual([closed.code, closed.reason], [1001, "route removed"]);
      for (const session of staying) assert.equal(await ask(session, "still"), "a:still");
      assert.equal(await refused(url("/gone")), true, "the deleted route takes no new sessions");
      for (const session of staying) session.ws.close();
    });

    it("closes a deleted pipeline's sessions with 1001 spread over its drainWindow", async () => {
      const { routes, pipelines } = base();
      const spread = { name: "spread", backends: [a], drainWindow: "1500ms" };
      await applied(configYaml(port, [...routes, { path: "/spread", pipeline: "spread" }], [...pipelines, spread]));
      const sessions = await openSpread("/spread", "spread", 6);
      await spreadOverWorkers("spread", sessions.length);
      const started = Date.now();
      const outcome = await applied(configYaml(port, routes, pipelines));
      assert.equal(outcome.summary.drained, sessions.length);
      assert.deepEqual(outcome.summary.deleted, ["Pipeline/spread"]);
      const closes = await withTimeout(
        Promise.all(sessions.map((session) => session.closed)),
        5000,
        "the drained sessions to close",
      );
      for (const close of closes) assert.deepEqual([close.code, close.reason], [1001, pipelineGoneReason]);
      const times = closes.map((close) => close.at).sort((x, y) => x - y);
      const first = times[0] as number;
      const last = times[times.length - 1] as number;
      assert.ok(last - first >= 900, `closes spread over the window (${last - first} ms between first and last)`);
      assert.ok(last - started < 3500, `all closed within about the window (${last - started} ms)`);
      // Each worker spreads its own sessions; one process spreads them all, so no two close together.
      if (workers === 1) {
        for (const [index, time] of times.entries()) {
          if (index > 0) assert.ok(time - (times[index - 1] as number) >= 100, `closes apart: ${times.join(", ")}`);
        }
      }
    });

    it("changed pipeline: the old session stays on the old backend, a new one goes to the new backend", async () => {
      const { routes, pipelines } = base();
      const before = await openMany(url("/stay"), workers);
      for (const session of before) assert.equal(await ask(session, "1"), "a:1");
      // By the admin API, this change goes through `wsgate apply -f`.
      const outcome = await applied(configYaml(port, routes, [{ name: "main", backends: [b] }]), true);
      assert.deepEqual(outcome.summary.updated, ["Pipeline/main"]);
      assert.equal(outcome.summary.drained, 0);
      const fresh = await openMany(url("/stay"), workers);
      for (const session of fresh) assert.equal(await ask(session, "2"), "b:2", "a new session uses the new pool");
      for (const session of before) assert.equal(await ask(session, "3"), "a:3", "the old session keeps its backend");
      for (const session of [...before, ...fresh]) session.ws.close();
      await applied(configYaml(port, routes, pipelines), true);
    });

    it("port change: the old port refuses new connections, the new port serves, the old port's session goes on", async () => {
      const { routes, pipelines } = base();
      const old = await openMany(url("/stay"), workers);
      const newPort = await freePort();
      const outcome = await applied(configYaml(newPort, routes, pipelines));
      assert.deepEqual(outcome.summary.relistened, ["reload-server"]);
      assert.equal(await storedPort(), newPort);
      assert.equal(await refused(url("/stay")), true, "the old port is closed");
      const moved = await openMany(url("/stay", newPort), workers);
      for (const session of moved) assert.equal(await ask(session, "new"), "a:new");
      for (const session of old) assert.equal(await ask(session, "old"), "a:old", "the old port's session echoes");
      for (const session of [...old, ...moved]) session.ws.close();
      await applied(configYaml(port, routes, pipelines));
      const back = await open(url("/stay"));
      assert.equal(await ask(back, "back"), "a:back");
      back.ws.close();
    });

    it("rejects a broken config as a whole, says where it is wrong, and keeps serving", async () => {
      const { routes, pipelines } = base();
      const session = await open(url("/stay"));
      const broken = configYaml(port, [...routes, { path: "/new", pipeline: "nowhere" }], pipelines).replace(
        "drainWindow: 200ms",
        "drainWindow: soon",
      );
      const outcome = await reload(broken);
      assert.equal(outcome.applied, false);
      if (trigger === "admin") {
        // The first write (the pipeline) is refused; nothing was written.
        assert.equal(outcome.status, 400);
        assert.ok(
          outcome.errors.some((error) => /^request:\d+ .*invalid duration/.test(error)),
          outcome.errors.join("; "),
        );
      } else {
        const { errors } = outcome;
        assert.ok(errors.length >= 2, `both errors reported: ${errors.join("; ")}`);
        for (const error of errors) assert.match(error, /gateway\.yaml:\d+ /);
        assert.ok(errors.some((error) => /drainWindow/.test(error) && /invalid duration/.test(error)));
        assert.ok(errors.some((error) => /nowhere/.test(error)));
      }
      assert.equal(await ask(session, "alive"), "a:alive");
      assert.equal(await refused(url("/new")), true, "nothing of the broken config was applied");
      const fresh = await open(url("/stay"));
      assert.equal(await ask(fresh, "fresh"), "a:fresh");
      fresh.ws.close();
      session.ws.close();
      // The same config fixed is taken.
      await applied(configYaml(port, routes, pipelines));
    });

    it("rejects a config whose new listener cannot open: the store rolls back, the running one keeps serving", async () => {
      const { routes, pipelines } = base();
      const session = await open(url("/stay"));
      const blocker = await namedEcho("blocker");
      try {
        const outcome = await reload(configYaml(blocker.port, routes, pipelines));
        assert.equal(outcome.applied, false);
        if (trigger === "admin") assert.equal(outcome.status, 500);
        assert.match(
          outcome.errors[0] ?? "",
          /HTTPServer reload-server: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/,
        );
        assert.equal(await storedPort(), port, "the store holds the running config again");
        assert.match(await lastApplyError(), /EADDRINUSE/, "the status tells the failure");
        assert.equal(await ask(session, "kept"), "a:kept");
        const fresh = await open(url("/stay"));
        assert.equal(await ask(fresh, "fresh"), "a:fresh");
        fresh.ws.close();
        session.ws.close();
      } finally {
        await blocker.close();
      }
      // A change after the refused one is taken, and the status says nothing is failing any more.
      await applied(configYaml(port, routes, [...pipelines, { name: "after", backends: [a] }]));
      assert.equal(await lastApplyError(), "");
    });

    it("logged exactly one outcome line for each reload (each write, by the admin API)", async () => {
      await gateway.logsMatching(isAnyOutcome, outcomeLines, 5000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const lines = gateway.logs.filter(isAnyOutcome);
      assert.equal(lines.length, outcomeLines, JSON.stringify(lines.map((line) => [line.event, line.trigger])));
    });
  });
}
