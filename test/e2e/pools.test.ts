// End to end (wsgate run, real backends on 127.0.0.1): candidate pools with `filter`, consistent hashing under
// health changes, cookieHash, and sticky sessions whose cookie the gateway sets on the 101.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fnv1 } from "../../src/upstream/request-matcher.js";
import { startCheckBackend, landing, type CheckBackend } from "../helpers/check-backends.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";

let gateway: GatewayProcess;
let port: number;
const b: Record<string, CheckBackend> = {};

function servers(names: string[]): string {
  return names.map((name) => `          - url: ${b[name]?.url ?? ""}`).join("\n");
}

function url(path: string): string {
  return `ws://127.0.0.1:${port}${path}`;
}

async function at(path: string, headers: Record<string, string> = {}): Promise<string> {
  return (await landing(url(path), headers)).backend;
}

function healthLine(pool: string, backend: CheckBackend, health: string, previous?: string) {
  return (line: LogLine): boolean =>
    line.event === "backend_health" &&
    line.pool === pool &&
    line.backend === `127.0.0.1:${backend.port}` &&
    line.health === health &&
    (previous === undefined || line.previous === previous);
}

/** The lb cookie (name=value) of a Set-Cookie header list. */
function lbCookie(setCookie: string[] | undefined): string | undefined {
  return setCookie?.find((cookie) => cookie.startsWith("wsgate_lb="))?.split(";")[0];
}

const CHECK = `
        healthCheck:
          interval: 150ms
          timeout: 2s
          http:
            uri: /health`;

before(async () => {
  for (const name of ["canary", "beta", "half", "main", "h1", "h2", "h3", "h4", "s1", "s2", "s3", "c1", "c2", "c3"]) {
    b[name] = await startCheckBackend(name);
  }
  port = await freePort();
  gateway = await GatewayProcess.start(`
kind: HTTPServer
name: pools-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /ws
        backend: candidates
      - pathPrefix: /hash
        backend: hashing
      - pathPrefix: /sticky
        backend: sticky
      - pathPrefix: /cookie
        backend: cookie
---
kind: Pipeline
name: candidates
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
${servers(["canary"])}
        filter:
          headers:
            X-Canary:
              exact: "yes"
            X-Canary-Group:
              prefix: early-
      - servers:
${servers(["beta"])}
        filter:
          urls:
            - methods: [GET]
              url:
                prefix: /ws/beta/
      - servers:
${servers(["main"])}
      - servers:
${servers(["half"])}
        # As in Easegress, a request without X-User hashes "" (FNV-1 % 1000 = 261): not taken at 250.
        filter:
          policy: headerHash
          headerHashKey: X-User
          permil: 250
---
kind: Pipeline
name: hashing
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
${servers(["h1", "h2", "h3", "h4"])}
        loadBalance:
          policy: headerHash
          headerHashKey: X-User${CHECK}
---
kind: Pipeline
name: sticky
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
${servers(["s1", "s2", "s3"])}
        loadBalance:
          policy: roundRobin
          stickySession:
            mode: CookieConsistentHash
            lbCookieName: wsgate_lb
            lbCookieExpire: 1h${CHECK}
---
kind: Pipeline
name: cookie
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
${servers(["c1", "c2", "c3"])}
        loadBalance:
          policy: cookieHash
          cookieHashKey: sid
`);
  // The first round of checks runs at start-up; tests start once every checked backend is healthy.
  for (const [pool, names] of [
    ["hashing/proxy/pools[0]", ["h1", "h2", "h3", "h4"]],
    ["sticky/proxy/pools[0]", ["s1", "s2", "s3"]],
  ] as const) {
    for (const name of names) await gateway.nextLog(healthLine(pool, b[name]!, "healthy", "unknown"), 10_000);
  }
});

after(async () => {
  await gateway?.stop();
  await Promise.all(Object.values(b).map((backend) => backend.stop()));
});

describe("candidate pools (wsgate run)", () => {
  it("sends a connection to the first candidate pool whose filter matches, else to the main pool", async () => {
    assert.equal(await at("/ws/chat"), "main");
    assert.equal(await at("/ws/chat", { "X-Canary": "yes" }), "canary");
    assert.equal(await at("/ws/chat", { "X-Canary": "no" }), "main");
    assert.equal(await at("/ws/chat", { "X-Canary-Group": "early-adopters" }), "canary");
    assert.equal(await at("/ws/beta/room?x=1"), "beta");
    assert.equal(await at("/ws/beta/room", { "X-Canary": "yes" }), "canary", "the first matching candidate wins");
    assert.equal(await at("/ws/betamax"), "main");
  });

  it("takes permil of the users (by header hash) into a candidate pool, each user always to the same pool", async () => {
    const users = Array.from({ length: 24 }, (_, index) => `user-${index}`);
    const expected = users.map((user) => (fnv1(user) % 1000 < 250 ? "half" : "main"));
    assert.ok(expected.includes("half") && expected.includes("main"), "the sample covers both pools");
    for (const [index, user] of users.entries()) {
      assert.equal(await at("/ws/app", { "X-User": user }), expected[index], user);
      assert.equal(await at("/ws/app", { "X-User": user }), expected[index], `${user} again`);
    }
  });
});

describe("consistent hashing under health changes (wsgate run)", () => {
  it("moves only the users of a backend that turns unhealthy, and brings them back when it recovers", async () => {
    const users = Array.from({ length: 40 }, (_, index) => `member-${index}`);
    const home = new Map<string, string>();
    for (const user of users) home.set(user, await at("/hash", { "X-User": user }));
    assert.equal(new Set(home.values()).size, 4, "the users spread over all four backends");
    const h2 = b.h2!;
    await h2.stop();
    await gateway.nextLog(healthLine("hashing/proxy/pools[0]", h2, "unhealthy"), 5000);
    let moved = 0;
    for (const user of users) {
      const now = await at("/hash", { "X-User": user });
      if (home.get(user) === "h2") {
        assert.notEqual(now, "h2");
        moved++;
      } else {
        assert.equal(now, home.get(user), `${user} moved although its backend stayed`);
      }
    }
    assert.ok(moved > 0 && moved <= 20, `${moved} of 40 users moved (those of h2 only)`);
    await h2.start();
    await gateway.nextLog(healthLine("hashing/proxy/pools[0]", h2, "healthy", "unhealthy"), 5000);
    for (const user of users) assert.equal(await at("/hash", { "X-User": user }), home.get(user));
  });
});

describe("cookieHash and sticky sessions (wsgate run)", () => {
  it("cookieHash: one cookie value, one backend; values spread over the backends", async () => {
    const seen = new Set<string>();
    for (let index = 0; index < 12; index++) {
      const cookie = `theme=dark; sid=session-${index}`;
      const first = await at("/cookie", { Cookie: cookie });
      assert.equal(await at("/cookie", { Cookie: cookie }), first);
      seen.add(first);
    }
    assert.ok(seen.size >= 2, `12 sessions on ${seen.size} backend(s)`);
  });

  it("sets the sticky cookie on the 101 and brings the client back to the same backend with it", async () => {
    const first = await landing(url("/sticky"));
    const setCookie = first.headers["set-cookie"];
    assert.match(
      setCookie?.join("\n") ?? "",
      /^wsgate_lb=[0-9a-f]{8}; Path=\/; Max-Age=3600; Expires=.+ GMT; HttpOnly$/m,
    );
    const cookie = lbCookie(setCookie);
    assert.ok(cookie !== undefined);
    for (let i = 0; i < 6; i++) {
      const again = await landing(url("/sticky"), { Cookie: cookie });
      assert.equal(again.backend, first.backend, "back to the same backend");
      assert.equal(lbCookie(again.headers["set-cookie"]), cookie, "the same cookie, renewed");
    }
    // Without the cookie the policy (roundRobin) spreads clients over the backends.
    assert.ok(new Set(await Promise.all([1, 2, 3].map(() => at("/sticky")))).size >= 2);
  });

  it("moves a sticky client to another backend when its own turns unhealthy, with a new cookie that sticks", async () => {
    const first = await landing(url("/sticky"));
    const cookie = lbCookie(first.headers["set-cookie"]);
    assert.ok(cookie !== undefined);
    const home = b[first.backend]!;
    await home.stop();
    await gateway.nextLog(healthLine("sticky/proxy/pools[0]", home, "unhealthy"), 5000);
    const moved = await landing(url("/sticky"), { Cookie: cookie });
    assert.notEqual(moved.backend, first.backend);
    const newCookie = lbCookie(moved.headers["set-cookie"]);
    assert.ok(newCookie !== undefined && newCookie !== cookie, "a new cookie for the new backend");
    for (let i = 0; i < 4; i++) assert.equal(await at("/sticky", { Cookie: newCookie }), moved.backend);
    await home.start();
  });
});
