import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClusterKeys, ClusterNameError } from "../../src/control/etcd-keys.js";
import { StoreUrlError, parseStoreUrl } from "../../src/control/store-url.js";

describe("--store etcd://", () => {
  it("takes one or more HOST:PORT, defaulting the port to 2379", () => {
    assert.deepEqual(parseStoreUrl("etcd://127.0.0.1:2379").endpoints, ["http://127.0.0.1:2379"]);
    assert.deepEqual(parseStoreUrl("etcd://a:1,b,[::1]:3,[::2]").endpoints, [
      "http://a:1",
      "http://b:2379",
      "http://[::1]:3",
      "http://[::2]:2379",
    ]);
  });

  it("refuses anything else with the expected form in the message", () => {
    for (const bad of ["http://a:2379", "etcd://", "a:2379", "etcd://a b:1", "etcd://a:1,,b"]) {
      assert.throws(() => parseStoreUrl(bad), StoreUrlError, bad);
    }
    assert.throws(() => parseStoreUrl("files"), /etcd:\/\/HOST:2379/);
  });

  it("puts objects and members of a cluster under /wsgate/<cluster>/", () => {
    const keys = new ClusterKeys("prod-eu");
    assert.equal(keys.objectKey("edge"), "/wsgate/prod-eu/objects/edge");
    assert.equal(keys.memberKey("gw-1"), "/wsgate/prod-eu/members/gw-1");
    assert.equal(keys.objectName("/wsgate/prod-eu/objects/edge"), "edge");
    assert.equal(keys.objectName("/wsgate/prod-eu/members/gw-1"), undefined);
    assert.throws(() => new ClusterKeys("a/b"), ClusterNameError);
    assert.throws(() => new ClusterKeys(""), ClusterNameError);
  });
});
