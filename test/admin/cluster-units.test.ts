// The pieces of `wsgate run --store` that need no etcd: the flag checks, the cluster sessions view over fake members,
// and a control that catches up with a store that moved on while the gateway started.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { clusterSessionsRoute, type ClusterSessionsBody } from "../../src/admin/cluster-api.js";
import type { AdminRequest } from "../../src/admin/response.js";
import { chooseStore, StoreFlagsError } from "../../src/cli/store-choice.js";
import { loadConfigText } from "../../src/config/load.js";
import type { GatewayControl } from "../../src/control/control.js";
import { LocalControl } from "../../src/control/local-control.js";
import type { MemberInfo } from "../../src/control/membership.js";
import { MemoryObjectStore } from "../../src/control/memory-store.js";
import { Gateway } from "../../src/gateway.js";
import { collectingLogger } from "../helpers/check-backends.js";
import { freePort } from "../helpers/net.js";

describe("store flags of wsgate run", () => {
  it("keeps the files by default and refuses cluster flags without --store", () => {
    assert.deepEqual(chooseStore({ config: ["a.yaml"] }), { kind: "files", paths: ["a.yaml"] });
    assert.throws(() => chooseStore({ config: [] }), /--config is required/);
    assert.throws(() => chooseStore({ config: ["a.yaml"], seed: true }), /--seed needs --store/);
    assert.throws(
      () => chooseStore({ config: ["a.yaml"], clusterName: "x", memberTtl: "2s" }),
      /--cluster-name, --member-ttl need --store/,
    );
  });

  it("takes --store with defaults, --seed with --config, and refuses what cannot work", () => {
    assert.deepEqual(chooseStore({ store: "etcd://10.0.0.1,10.0.0.2:2380", config: [] }), {
      kind: "etcd",
      endpoints: ["http://10.0.0.1:2379", "http://10.0.0.2:2380"],
      cluster: "default",
      seedPaths: [],
      startTimeoutMs: 30_000,
      memberTtlSeconds: 10,
    });
    const seeded = chooseStore({
      store: "etcd://h:2379",
      config: ["a.yaml"],
      seed: true,
      clusterName: "edge",
      storeStartTimeout: "1500ms",
      memberTtl: "2s",
    });
    assert.equal(seeded.kind, "etcd");
    assert.deepEqual(seeded.kind === "etcd" && [seeded.cluster, seeded.seedPaths, seeded.startTimeoutMs], [
      "edge",
      ["a.yaml"],
      1500,
    ]);
    const refusals: [Parameters<typeof chooseStore>[0], RegExp][] = [
      [{ store: "etcd://h", config: ["a.yaml"] }, /use --seed to write the files into the cluster/],
      [{ store: "etcd://h", config: [], seed: true }, /--seed needs --config/],
      [{ store: "etcd://h", config: [], watch: true }, /--watch does not go with --store/],
      [{ store: "http://h:2379", config: [] }, /--store must look like etcd:\/\//],
      [{ store: "etcd://h", config: [], clusterName: "no/slash" }, /--cluster-name: invalid cluster name/],
      [{ store: "etcd://h", config: [], storeStartTimeout: "30" }, /--store-start-timeout: invalid duration/],
      [{ store: "etcd://h", config: [], memberTtl: "500ms" }, /--member-ttl must be at least 1s/],
    ];
    for (const [flags, message] of refusals) {
      assert.throws(
        () => chooseStore(flags),
        (error: Error) => error instanceof StoreFlagsError && message.test(error.message),
      );
    }
  });
});

describe("GET /apis/v2/cluster/sessions", () => {
  let answering: http.Server;
  let silent: http.Server;
  const address = (server: http.Server): string => `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const listen = (server: http.Server): Promise<void> =>
    new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  let authorization: string | undefined;

  before(async () => {
    answering = http.createServer((request, response) => {
      authorization = request.headers.authorization;
      response.setHeader("Content-Type", "application/json");
      response.end(JSON.stringify([{ id: "7", server: "edge", route: "*/ws" }]));
    });
    // Takes the request and never answers.
    silent = http.createServer(() => {});
    await listen(answering);
    await listen(silent);
  });
  after(() => {
    answering.closeAllConnections();
    silent.closeAllConnections();
    answering.close();
    silent.close();
  });

  const member = (id: string, adminAddress?: string): MemberInfo => ({
    id,
    address: "127.0.0.2",
    ...(adminAddress === undefined ? {} : { adminAddress }),
    version: "0.1.0",
    startedAt: new Date().toISOString(),
    sessions: 0,
  });

  it("collects every member's sessions with the token, names each session's member, and marks who did not answer", async () => {
    const refused = `127.0.0.1:${await freePort()}`;
    const request = {
      cluster: {
        members: {
          listMembers: () =>
            Promise.resolve([
              member("a", address(answering)),
              member("b", address(silent)),
              member("c"),
              member("d", refused),
            ]),
        },
        peers: { scheme: "http", token: "a-token-of-sixteen-chars", timeoutMs: 300 },
      },
    } as unknown as AdminRequest;
    const started = Date.now();
    const answer = await clusterSessionsRoute(request);
    assert.ok(Date.now() - started < 2000, "a silent member costs its timeout, not more");
    const body = answer.body as ClusterSessionsBody;
    assert.equal(answer.status, 200);
    assert.deepEqual(
      body.sessions.map((session) => [session.member, session.id]),
      [["a", "7"]],
    );
    assert.equal(authorization, "Bearer a-token-of-sixteen-chars");
    assert.deepEqual(
      body.members.map((one) => [one.id, one.answered]),
      [
        ["a", true],
        ["b", false],
        ["c", false],
        ["d", false],
      ],
    );
    assert.match(body.members[1]?.error ?? "", /no answer within 300 ms/);
    assert.equal(body.members[2]?.error, "no admin API");
  });

  it("is a 404 on a gateway without a cluster store", async () => {
    await assert.rejects(clusterSessionsRoute({} as AdminRequest), { status: 404, code: "WSG_NO_CLUSTER" });
  });
});

describe("LocalControl on a store that moved on while the gateway started", () => {
  it("applies the store's set at once when it differs from what the gateway started on", async () => {
    const { log } = collectingLogger();
    const port = await freePort();
    const empty = loadConfigText("", "empty");
    assert.ok(empty.ok);
    const gateway = await Gateway.start(empty.config, log);
    const later = loadConfigText(
      `kind: HTTPServer\nname: late\nport: ${port}\naddress: 127.0.0.1\nrules: []\n`,
      "later",
    );
    assert.ok(later.ok);
    const store = new MemoryObjectStore(later.config.objects);
    const control: GatewayControl = new LocalControl(store, gateway, log, { running: empty.config.objects });
    assert.equal(await control.settled(), undefined);
    assert.deepEqual(
      gateway.listening.map((listener) => listener.address.port),
      [port],
    );
    await gateway.stop(0);
  });
});
