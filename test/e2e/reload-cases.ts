// End to end (wsgate run, real backends on 127.0.0.1): what a reload of the config files keeps and what it ends, the
// same for each way a reload comes (`--watch`, SIGHUP). reload-watch.test.ts and reload-sighup.test.ts run these.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

export type ReloadTrigger = "watch" | "SIGHUP";

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

const isOutcome = (line: LogLine): boolean => line.event === "config_applied" || line.event === "config_rejected";

export function reloadCases(trigger: ReloadTrigger): void {
  describe(`config reloads by ${trigger === "watch" ? "--watch" : "SIGHUP"} never drop a WebSocket they need not`, () => {
    let a: TestBackend;
    let b: TestBackend;
    let port: number;
    let gateway: GatewayProcess;
    const url = (path: string, on = port): string => `ws://127.0.0.1:${on}${path}`;

    /** Writes the new config, makes the gateway reload it, and returns the outcome's log line. */
    async function reload(yaml: string): Promise<LogLine> {
      const seen = gateway.logs.filter(isOutcome).length;
      gateway.rewriteConfig(yaml);
      if (trigger === "SIGHUP") gateway.sighup();
      const lines = await gateway.logsMatching(isOutcome, seen + 1, 5000);
      return lines[seen] as LogLine;
    }

    async function applied(yaml: string): Promise<LogLine> {
      const line = await reload(yaml);
      assert.equal(line.event, "config_applied", `config applied: ${JSON.stringify(line)}`);
      return line;
    }

    const base = (): { routes: Route[]; pipelines: PipelineConfig[] } => ({
      routes: [{ path: "/stay", pipeline: "main" }],
      pipelines: [{ name: "main", backends: [a] }],
    });

    before(async () => {
      a = await namedEcho("a");
      b = await namedEcho("b");
      port = await freePort();
      const { routes, pipelines } = base();
      gateway = await GatewayProcess.start(configYaml(port, routes, pipelines), {
        args: trigger === "watch" ? ["--watch"] : [],
      });
    });

    after(async () => {
      await gateway?.stop();
      await a?.close();
      await b?.close();
    });

    it("keeps a session on an unchanged route echoing through 20 reloads", async () => {
      const session = await open(url("/stay"));
      const { routes, pipelines } = base();
      for (let round = 0; round < 20; round++) {
        // Odd rounds add a route and a pipeline (before the kept route, so that its index moves); even ones drop them.
        const extra = round % 2 === 0;
        await applied(
          configYaml(
            port,
            extra ? [{ path: "/other", pipeline: "other" }, ...routes] : routes,
            extra ? [...pipelines, { name: "other", backends: [b] }] : pipelines,
          ),
        );
        assert.equal(await ask(session, `round ${round}`), `a:round ${round}`);
      }
      session.ws.close();
    });

    it("closes a session on a deleted route with 1001 'route removed'; others go on", async () => {
      const { routes, pipelines } = base();
      await applied(configYaml(port, [...routes, { path: "/gone", pipeline: "main" }], pipelines));
      const staying = await open(url("/stay"));
      const leaving = await open(url("/gone"));
      assert.equal(await ask(leaving, "hello"), "a:hello");
      const line = await applied(configYaml(port, routes, pipelines));
      assert.equal(line.drained, 1);
      const closed = await withTimeout(leaving.closed, 3000, "the deleted route's session to close");
      assert.equal(closed.code, 1001);
      assert.equal(closed.reason, "route removed");
      assert.equal(await ask(staying, "still"), "a:still");
      assert.equal(await refused(url("/gone")), true, "the deleted route takes no new sessions");
      staying.ws.close();
    });

    it("closes a deleted pipeline's sessions with 1001 spread over its drainWindow", async () => {
      const { routes, pipelines } = base();
      const spread = { name: "spread", backends: [a], drainWindow: "1500ms" };
      await applied(configYaml(port, [...routes, { path: "/spread", pipeline: "spread" }], [...pipelines, spread]));
      const sessions = await Promise.all(Array.from({ length: 6 }, () => open(url("/spread"))));
      const started = Date.now();
      const line = await applied(configYaml(port, routes, pipelines));
      assert.equal(line.drained, 6);
      assert.deepEqual(line.deleted, ["Pipeline/spread"]);
      const closes = await withTimeout(
        Promise.all(sessions.map((session) => session.closed)),
        5000,
        "the drained sessions to close",
      );
      for (const close of closes) assert.deepEqual([close.code, close.reason], [1001, "pipeline removed"]);
      const times = closes.map((close) => close.at).sort((x, y) => x - y);
      const first = times[0] as number;
      const last = times[times.length - 1] as number;
      assert.ok(last - first >= 900, `closes spread over the window (${last - first} ms between first and last)`);
      assert.ok(last - started < 3500, `all closed within about the window (${last - started} ms)`);
      for (const [index, time] of times.entries()) {
        if (index > 0) assert.ok(time - (times[index - 1] as number) >= 100, `closes apart: ${times.join(", ")}`);
      }
    });

    it("changed pipeline: the old session stays on the old backend, a new one goes to the new backend", async () => {
      const { routes, pipelines } = base();
      const before = await open(url("/stay"));
      assert.equal(await ask(before, "1"), "a:1");
      const line = await applied(configYaml(port, routes, [{ name: "main", backends: [b] }]));
      assert.deepEqual(line.updated, ["Pipeline/main"]);
      assert.equal(line.drained, 0);
      const fresh = await open(url("/stay"));
      assert.equal(await ask(fresh, "2"), "b:2", "a new session uses the new pool");
      assert.equal(await ask(before, "3"), "a:3", "the old session keeps its backend");
      before.ws.close();
      fresh.ws.close();
      await applied(configYaml(port, routes, pipelines));
    });

    it("port change: the old port refuses new connections, the new port serves, the old port's session goes on", async () => {
      const { routes, pipelines } = base();
      const old = await open(url("/stay"));
      const newPort = await freePort();
      const line = await applied(configYaml(newPort, routes, pipelines));
      assert.deepEqual(line.relistened, ["reload-server"]);
      assert.equal(await refused(url("/stay")), true, "the old port is closed");
      const moved = await open(url("/stay", newPort));
      assert.equal(await ask(moved, "new"), "a:new");
      assert.equal(await ask(old, "old"), "a:old", "the old port's session still echoes");
      moved.ws.close();
      old.ws.close();
      await applied(configYaml(port, routes, pipelines));
      const back = await open(url("/stay"));
      assert.equal(await ask(back, "back"), "a:back");
      back.ws.close();
    });

    it("rejects a broken config as a whole, logs its errors with file:line, and keeps serving", async () => {
      const { routes, pipelines } = base();
      const session = await open(url("/stay"));
      const broken = configYaml(port, [...routes, { path: "/new", pipeline: "nowhere" }], pipelines).replace(
        "drainWindow: 200ms",
        "drainWindow: soon",
      );
      const line = await reload(broken);
      assert.equal(line.event, "config_rejected");
      const errors = line.errors as string[];
      assert.ok(errors.length >= 2, `both errors reported: ${errors.join("; ")}`);
      for (const error of errors) assert.match(error, /gateway\.yaml:\d+ /);
      assert.ok(errors.some((error) => /drainWindow/.test(error) && /invalid duration/.test(error)));
      assert.ok(errors.some((error) => /nowhere/.test(error)));
      assert.equal(await ask(session, "alive"), "a:alive");
      assert.equal(await refused(url("/new")), true, "nothing of the broken config was applied");
      const fresh = await open(url("/stay"));
      assert.equal(await ask(fresh, "fresh"), "a:fresh");
      fresh.ws.close();
      session.ws.close();
      // The same file fixed is taken.
      await applied(configYaml(port, routes, pipelines));
    });

    it("rejects a config whose new listener cannot open, and keeps the running one", async () => {
      const { routes, pipelines } = base();
      const blocker = await namedEcho("blocker");
      const line = await reload(configYaml(blocker.port, routes, pipelines));
      assert.equal(line.event, "config_rejected");
      assert.match(
        (line.errors as string[])[0] ?? "",
        /HTTPServer reload-server: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/,
      );
      const session = await open(url("/stay"));
      assert.equal(await ask(session, "kept"), "a:kept");
      session.ws.close();
      await blocker.close();
    });
  });
}
