import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UpstreamServer, describeServer } from "../../src/upstream/server.js";

function server(url: string, weight = 1): UpstreamServer {
  return new UpstreamServer({ url, weight, keepHost: true, tags: ["blue"] });
}

describe("UpstreamServer", () => {
  it("fills in the scheme's default port", () => {
    assert.equal(server("ws://backend").hostPort, "backend:80");
    assert.equal(server("http://backend/").hostPort, "backend:80");
    assert.equal(server("wss://backend").hostPort, "backend:443");
    assert.equal(server("https://backend").hostPort, "backend:443");
    assert.equal(server("http://backend:80").hostPort, "backend:80");
    assert.equal(server("wss://backend:9443").hostPort, "backend:9443");
  });

  it("knows which schemes are TLS and exposes a connectable host and port", () => {
    assert.equal(server("wss://a").secure, true);
    assert.equal(server("https://a").secure, true);
    assert.equal(server("ws://a").secure, false);
    assert.equal(server("http://a").secure, false);
    const ipv6 = server("ws://[::1]:9000");
    assert.equal(ipv6.hostPort, "[::1]:9000");
    assert.equal(ipv6.hostname, "::1");
    assert.equal(ipv6.port, 9000);
    assert.equal(describeServer(ipv6), "[::1]:9000");
  });

  it("keeps the spec and starts healthy with no connections", () => {
    const tags = ["blue"];
    const built = new UpstreamServer({ url: "http://a", weight: 3, keepHost: true, tags });
    tags.push("mutated");
    assert.equal(built.weight, 3);
    assert.equal(built.keepHost, true);
    assert.deepEqual(built.tags, ["blue"]);
    assert.equal(built.healthy, true);
    assert.equal(built.activeConnections, 0);
  });

  it("rejects unusable urls and weights", () => {
    assert.throws(() => server("not a url"), /invalid upstream server url/);
    assert.throws(() => server("ftp://a"), /scheme must be/);
    assert.throws(() => server("http://a", -1), /weight/);
    assert.throws(() => server("http://a", 1.5), /weight/);
    assert.throws(() => server("http://a", Number.NaN), /weight/);
  });
});
