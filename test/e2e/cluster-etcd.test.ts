// End to end: three `wsgate run --store etcd://...` members on one real etcd, each on its own loopback address
// (127.0.0.2, .3, .4) with `--bind-address` and the same port, admin APIs on ephemeral ports. Member A seeds the
// cluster from a file; B and C take the cluster's objects as they are. One test per line of issue 9's list.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import type { ClusterSessionsBody } from "../../src/admin/cluster-api.js";
import { admin, runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { EtcdServer, etcdMissing } from "../helpers/etcd.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

const skip = etcdMissing();

const ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"] as const;
const CLUSTER = `e2e-${process.pid}`;
const TTL_S = 2;

/** A client session that records what it gets and how it ends. */
class Session {
  private readonly inbox: string[] = [];
  private readonly waiting: Array<(text: string) => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const text = String(data);
      const waiter = this.waiting.shift();
      if (waiter === undefined) this.inbox.push(text);
      else waiter(text);
    });
    this.closed = new Promise((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })));
  }

  static open(url: string, headers: Record<string, string> = {}, ms = 3000): Promise<Session> {
    const ws = new WebSocket(url, { headers });
    const session = new Session(ws);
    return withTimeout(
      new Promise<Session>((resolve, reject) => {
        ws.once("open", () => resolve(session));
        ws.once("error", reject);
      }),
      ms,
      `a session to ${url}`,
    );
  }

  /** Sends `text` and resolves with the next message. */
  ask(text: string, ms = 3000): Promise<string> {
    const next = new Promise<string>((resolve) => {
      const queued = this.inbox.shift();
      if (queued !== undefined) resolve(queued);
      else this.waiting.push(resolve);
    });
    this.ws.send(text);
    return withTimeout(next, ms, `the answer to '${text}'`);
  }

  close(): void {
    this.ws.close();
  }
}

/** One exchange on a fresh session: the backend's answer, or undefined when the gateway does not serve it (yet). */
async function exchange(url: string, headers: Record<string, string> = {}): Promise<string | undefined> {
  let session: Session | undefined;
  try {
    session = await Session.open(url, headers, 1000);
    return await session.ask("ping", 1000);
  } catch {
    return undefined;
  } finally {
    session?.ws.terminate();
  }
}

/** Polls `check` every `every` ms until it gives a value; throws after `ms`. Resolves with the value and the time. */
async function poll<T>(
  check: () => Promise<T | undefined>,
  ms: number,
  what: string,
  every = 20,
): Promise<{ value: T; tookMs: number }> {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return { value, tookMs: Date.now() - started };
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

function serverYaml(name: string, port: number, paths: readonly string[], pipeline: string, marker = 0): string {
  return `kind: HTTPServer
name: ${name}
port: ${port}
address: 127.0.0.1
# marker ${marker}
xForwardedFor: ${marker % 2 === 0 ? "true" : "false"}
rules:
  - paths:
${paths.map((path) => `      - path: ${path}\n        backend: ${pipeline}`).join("\n")}
`;
}

function pipelineYaml(name: string, backends: readonly TestBackend[], extra = ""): string {
  return `kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    drainWindow: 200ms
    pools:
      - servers:
${backends.map((backend) => `          - url: ${backend.url}`).join("\n")}
${extra}`;
}

interface MemberRow {
  id: string;
  address: string;
  adminAddress?: string;
  sessions: number;
}

describe("a cluster of wsgate members on etcd", { skip }, () => {
  let etcd: EtcdServer;
  const backends: TestBackend[] = [];
  const members: GatewayProcess[] = [];
  let port: number;
  let store: string;

  /** A backend that answers every message with its own name, so tests see which backend a session reached. */
  const namedBackend = (name: string): Promise<TestBackend> =>
    startBackend({
      onConnection: (socket) => socket.on("message", (data) => socket.send(`${name}:${String(data)}`)),
    });

  const startMember = (address: string, seedYaml?: string): Promise<GatewayProcess> =>
    GatewayProcess.start(seedYaml ?? "", {
      admin: true,
      config: seedYaml !== undefined,
      args: [
        "--store",
        store,
        "--cluster-name",
        CLUSTER,
        "--bind-address",
        address,
        "--member-ttl",
        `${TTL_S}s`,
        "--store-start-timeout",
        "5s",
        ...(seedYaml === undefined ? [] : ["--seed"]),
      ],
    });

  const memberA = (): GatewayProcess => members[0]!;
  const url = (member: number, path: string, onPort = port): string => `ws://${ADDRESSES[member]}:${onPort}${path}`;
  const memberList = async (via: GatewayProcess): Promise<MemberRow[]> => {
    const reply = await admin(via.adminPort, "GET", "/apis/v2/members");
    assert.equal(reply.status, 200, reply.text);
    return reply.json<{ members: MemberRow[] }>().members;
  };
  /** An object's revision as `member` sees it (its mirror of etcd). */
  const revisionOn = async (member: GatewayProcess, name: string): Promise<number | undefined> => {
    const reply = await admin(member.adminPort, "GET", `/apis/v2/objects/${name}`);
    return reply.status === 200 ? Number(reply.headers.get("x-object-revision")) : undefined;
  };

  before(async () => {
    etcd = await EtcdServer.start();
    store = `etcd://127.0.0.1:${etcd.clientPort}`;
    for (const name of ["b1", "b2", "b3"]) backends.push(await namedBackend(name));
    port = await freePort();
    const seed = `${serverYaml("edge", port, ["/ws", "/hash"], "main")}---\n${pipelineYaml("main", backends.slice(0, 1))}`;
    members.push(await startMember(ADDRESSES[0], seed));
    members.push(await startMember(ADDRESSES[1]));
    members.push(await startMember(ADDRESSES[2]));
    await Promise.all(members.map((member) => member.nextLog((line) => line["event"] === "member_state")));
  });

  after(async () => {
    await Promise.all(members.map((member) => member.stop()));
    await Promise.all(backends.map((backend) => backend.close()));
    await etcd?.remove();
  });

  it("serves the seeded objects on every member, and lists every member with its addresses", async () => {
    for (const member of [0, 1, 2]) assert.equal(await exchange(url(member, "/ws")), "b1:ping");
    const list = await memberList(members[1]!);
    assert.deepEqual(list.map((row) => row.address).sort(), [...ADDRESSES]);
    assert.deepEqual(
      list.map((row) => row.adminAddress).sort(),
      members.map((member) => `127.0.0.1:${member.adminPort}`).sort(),
    );
    const cli = await runCli(["members", "--server", `http://127.0.0.1:${memberA().adminPort}`]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^ID\s+ADDRESS\s+ADMIN\s+SESSIONS\s+AGE\s+VERSION\n/);
    for (const address of ADDRESSES) assert.match(cli.stdout, new RegExp(address.replace(/\./g, "\\.")));
  });

  it("serves an object applied on A on B within a second", async (t) => {
    const extraPort = await freePort();
    const started = Date.now();
    const reply = await admin(memberA().adminPort, "POST", "/apis/v2/objects", {
      body: serverYaml("extra", extraPort, ["/x", "/y"], "main"),
    });
    assert.equal(reply.status, 201, reply.text);
    const answered = Date.now() - started;
    const { tookMs } = await poll(() => exchange(url(1, "/x", extraPort)), 3000, "member B to serve the new object");
    t.diagnostic(
      `apply on A answered in ${answered} ms; B served the new server ${Date.now() - started} ms after the write`,
    );
    assert.ok(Date.now() - started < 3000, `B served it ${tookMs} ms after A answered`);
    assert.equal(await exchange(url(2, "/x", extraPort)), "b1:ping", "and C too");
  });

  it("keeps a session on B echoing through 20 updates of another object made on A", async () => {
    const extra = await admin(memberA().adminPort, "GET", "/apis/v2/objects/extra", {
      headers: { Accept: "application/json" },
    });
    const extraPort = Number(extra.json()["port"]);
    const session = await Session.open(url(1, "/ws"));
    assert.equal(await session.ask("before"), "b1:before");
    let revision = 0;
    for (let round = 1; round <= 20; round++) {
      const reply = await admin(memberA().adminPort, "PUT", "/apis/v2/objects/extra", {
        body: serverYaml("extra", extraPort, ["/x", "/y"], "main", round),
      });
      assert.equal(reply.status, 200, reply.text);
      revision = reply.json<{ revision: number }>().revision;
      assert.equal(await session.ask(`round ${round}`), `b1:round ${round}`);
    }
    await poll(
      async () => ((await revisionOn(members[1]!, "extra")) === revision ? true : undefined),
      2000,
      "B to see the last update",
    );
    assert.equal(await session.ask("after"), "b1:after");
    const log = members[1]!.logs.filter((line) => line["event"] === "config_applied");
    assert.ok(log.length >= 2, "B applied the updates");
    session.close();
  });

  it("drains B's sessions on a route deleted on A with 1001; others go on", async () => {
    const extra = await admin(memberA().adminPort, "GET", "/apis/v2/objects/extra", {
      headers: { Accept: "application/json" },
    });
    const extraPort = Number(extra.json()["port"]);
    const staying = await Session.open(url(1, "/x", extraPort));
    const leaving = await Session.open(url(1, "/y", extraPort));
    assert.equal(await leaving.ask("hi"), "b1:hi");
    const reply = await admin(memberA().adminPort, "PUT", "/apis/v2/objects/extra", {
      body: serverYaml("extra", extraPort, ["/x"], "main"),
    });
    assert.equal(reply.status, 200, reply.text);
    const closed = await withTimeout(leaving.closed, 3000, "B's session on the deleted route to close");
    assert.deepEqual([closed.code, closed.reason], [1001, "route removed"]);
    assert.equal(await staying.ask("still"), "b1:still");
    staying.close();
  });

  it("refuses an update with a stale revision with 409, whichever member takes it", async () => {
    const seen = await revisionOn(members[1]!, "extra");
    assert.ok(seen !== undefined);
    const extra = await admin(memberA().adminPort, "GET", "/apis/v2/objects/extra", {
      headers: { Accept: "application/json" },
    });
    const body = serverYaml("extra", Number(extra.json()["port"]), ["/x"], "main", 99);
    const first = await admin(memberA().adminPort, "PUT", `/apis/v2/objects/extra?revision=${seen}`, { body });
    assert.equal(first.status, 200, first.text);
    const stale = await admin(members[2]!.adminPort, "PUT", "/apis/v2/objects/extra", {
      body,
      headers: { "If-Match": `"${seen}"` },
    });
    assert.equal(stale.status, 409, stale.text);
    assert.equal(stale.json()["code"], "WSG_STALE_REVISION");
  });

  it("sends a key to the same backend whichever member takes the connection (consistent hashing)", async () => {
    const updated = pipelineYaml(
      "main",
      backends,
      "        loadBalance:\n          policy: headerHash\n          headerHashKey: X-User\n",
    );
    const reply = await admin(memberA().adminPort, "PUT", "/apis/v2/objects/main", { body: updated });
    assert.equal(reply.status, 200, reply.text);
    const revision = reply.json<{ revision: number }>().revision;
    for (const member of members) {
      await poll(async () => ((await revisionOn(member, "main")) === revision ? true : undefined), 2000, "the pool");
    }
    const picks = new Map<string, Set<string>>();
    for (let user = 0; user < 12; user++) {
      for (const member of [0, 1, 2]) {
        const answer = await exchange(url(member, "/hash"), { "X-User": `user-${user}` });
        assert.ok(answer !== undefined, `user-${user} served via member ${member}`);
        const backend = answer.split(":")[0]!;
        picks.set(`user-${user}`, (picks.get(`user-${user}`) ?? new Set()).add(backend));
      }
    }
    for (const [user, chosen] of picks) assert.equal(chosen.size, 1, `${user} went to ${[...chosen].join(" and ")}`);
    const used = new Set([...picks.values()].flatMap((chosen) => [...chosen]));
    assert.ok(used.size >= 2, `the keys spread over the pool (${[...used].join(", ")})`);
  });

  it("aggregates live sessions of every member, each with its member", async () => {
    const sessions = await Promise.all([1, 2].map((member) => Session.open(url(member, "/ws"))));
    const reply = await admin(memberA().adminPort, "GET", "/apis/v2/cluster/sessions");
    assert.equal(reply.status, 200, reply.text);
    const body = reply.json<{ sessions: { member: string }[]; members: { id: string; answered: boolean }[] }>();
    assert.equal(body.members.length, 3);
    assert.ok(body.members.every((member) => member.answered));
    const ids = new Set(body.sessions.map((session) => session.member));
    assert.equal(ids.size, 2, "sessions of B and C, named by member");
    const cli = await runCli(["sessions", "--cluster", "--server", `http://127.0.0.1:${memberA().adminPort}`]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^MEMBER\s+ID\s+ROUTE/);
    for (const session of sessions) session.close();
  });

  it("keeps serving through an etcd outage, refuses writes meanwhile, and takes changes once etcd is back", async (t) => {
    const session = await Session.open(url(1, "/ws"));
    // After the hashing test the pool has three backends: a session without the header lands on one of them.
    assert.match(await session.ask("before"), /^b\d:before$/);
    await etcd.stop();
    const stoppedAt = Date.now();
    await Promise.all(members.map((member) => member.nextLog((line) => line["event"] === "store_state", 5000)));
    // Longer than the member TTL: the leases lapse too.
    await new Promise((resolve) => setTimeout(resolve, TTL_S * 1000 + 500));
    assert.match(await session.ask("during"), /^b\d:during$/, "a live session keeps going");
    for (const member of [0, 1, 2])
      assert.match((await exchange(url(member, "/ws"))) ?? "", /^b\d:ping$/, "new ones too");
    const refused = await admin(memberA().adminPort, "POST", "/apis/v2/objects", {
      body: pipelineYaml("during-outage", backends.slice(0, 1)),
    });
    assert.equal(refused.status, 503, refused.text);
    t.diagnostic(`etcd was down for ${Date.now() - stoppedAt} ms`);

    await etcd.resume();
    const backAt = Date.now();
    const laterPort = await freePort();
    // The member's client may still be backing off: a write goes through within a few seconds.
    const { tookMs: writeMs } = await poll(
      async () => {
        const reply = await admin(memberA().adminPort, "POST", "/apis/v2/objects", {
          body: serverYaml("later", laterPort, ["/later"], "main"),
        });
        return reply.status === 201 ? true : undefined;
      },
      15_000,
      "a write to go through once etcd is back",
      200,
    );
    for (const member of [0, 1, 2]) {
      await poll(() => exchange(url(member, "/later", laterPort)), 10_000, `member ${member} to serve the change`);
    }
    t.diagnostic(`after etcd returned: write accepted in ${writeMs} ms, served everywhere ${Date.now() - backAt} ms`);
    assert.match((await session.ask("after")) ?? "", /^b\d:after$/);
    session.close();
    // Every member registers again once its lease is gone.
    await poll(
      async () => ((await memberList(memberA())).length === 3 ? true : undefined),
      10_000,
      "every member to be listed again",
      200,
    );
  });

  it("runs a member with --workers on the cluster's objects, and a SIGTERM takes it off the list at once", async () => {
    const address = "127.0.0.5";
    const withWorkers = await GatewayProcess.start("", {
      admin: true,
      config: false,
      args: ["--store", store, "--cluster-name", CLUSTER, "--bind-address", address, "--workers", "2"],
    });
    try {
      await withWorkers.nextLog((line) => line["event"] === "member_state");
      const session = await Session.open(`ws://${address}:${port}/ws`);
      assert.match(await session.ask("via workers"), /^b\d:via workers$/);
      const listed = await memberList(memberA());
      assert.ok(
        listed.some((row) => row.address === address && row.adminAddress === `127.0.0.1:${withWorkers.adminPort}`),
      );
      const reply = await admin(memberA().adminPort, "GET", "/apis/v2/cluster/sessions");
      const body = reply.json<ClusterSessionsBody>();
      assert.ok(
        body.sessions.some((one) => /^\d+-\d+$/.test(one.id)),
        "a worker's session, id <worker>-<n>",
      );
      assert.equal(await withWorkers.stop(), 0);
      const closed = await withTimeout(session.closed, 3000, "the session to be closed by the stop");
      assert.equal(closed.code, 1001);
      const after = await memberList(memberA());
      assert.ok(!after.some((row) => row.address === address), "a stopped member leaves at once");
    } finally {
      await withWorkers.stop();
    }
  });

  it("drops a member killed with SIGKILL from the member list once its lease expires", async (t) => {
    const victim = members[2]!;
    const before = await memberList(memberA());
    assert.equal(before.length, 3);
    victim.child.kill("SIGKILL");
    await victim.exited;
    const killedAt = Date.now();
    const { tookMs } = await poll(
      async () => ((await memberList(memberA())).length === 2 ? true : undefined),
      TTL_S * 1000 + 4000,
      "the killed member to vanish",
      100,
    );
    t.diagnostic(`the killed member vanished ${Date.now() - killedAt} ms after SIGKILL (TTL ${TTL_S} s)`);
    assert.ok(tookMs >= 500, "not at once: the lease had to expire");
    const left = (await memberList(memberA())).map((row) => row.address).sort();
    assert.deepEqual(left, [ADDRESSES[0], ADDRESSES[1]]);
  });
});

describe("wsgate run --store: start-up", { skip }, () => {
  it("waits for an unreachable etcd up to --store-start-timeout, then exits 1 with a clear message", async () => {
    const deadPort = await freePort();
    const started = Date.now();
    const run = await runCli(
      ["run", "--store", `etcd://127.0.0.1:${deadPort}`, "--store-start-timeout", "1s", "--admin-address", "off"],
      { ms: 10_000 },
    );
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /etcd at http:\/\/127\.0\.0\.1:\d+ did not answer within 1000 ms/);
    assert.match(run.stdout, /waiting up to 1 s for etcd/);
    assert.ok(Date.now() - started < 5000);
  });

  it("refuses --config without --seed, and --watch, with --store", async () => {
    const store = "etcd://127.0.0.1:2379";
    const withConfig = await runCli(["run", "--store", store, "--config", "x.yaml"]);
    assert.equal(withConfig.code, 2);
    assert.match(withConfig.stderr, /use --seed to write the files into the cluster/);
    const watch = await runCli(["run", "--store", store, "--watch"]);
    assert.equal(watch.code, 2);
    assert.match(watch.stderr, /--watch does not go with --store/);
    const seedAlone = await runCli(["run", "--seed", "--config", "x.yaml"]);
    assert.equal(seedAlone.code, 2);
    assert.match(seedAlone.stderr, /--seed needs --store/);
  });
});
