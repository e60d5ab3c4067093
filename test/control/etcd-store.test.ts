import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ConfigObject } from "../../src/config/load.js";
import { createEtcdClient } from "../../src/control/etcd-client.js";
import { EtcdObjectStore } from "../../src/control/etcd-store.js";
import type { EtcdStoreOptions } from "../../src/control/etcd-store.js";
import {
  ObjectExistsError,
  ObjectNotFoundError,
  StaleRevisionError,
  StoreStartTimeoutError,
  StoreUnavailableError,
} from "../../src/errors.js";
import { collectingLogger } from "../helpers/check-backends.js";
import { EtcdServer, etcdMissing } from "../helpers/etcd.js";
import { freePort, waitUntil, withTimeout } from "../helpers/net.js";
import { CuttableRelay } from "../helpers/tcp-cut.js";

const skip = etcdMissing();

function pipeline(name: string, marker = 1): ConfigObject {
  return { kind: "Pipeline", name, data: { kind: "Pipeline", name, filters: [{ kind: "Validator", marker }] } };
}

function names(store: EtcdObjectStore): string[] {
  return store.list().map((stored) => stored.object.name);
}

let clusters = 0;
/** A fresh cluster name per test, so tests sharing one etcd do not see each other's objects. */
function cluster(): string {
  return `test-${process.pid}-${++clusters}`;
}

describe("EtcdObjectStore", { skip }, () => {
  let etcd: EtcdServer;
  const stores: EtcdObjectStore[] = [];
  const open = async (options: Partial<EtcdStoreOptions> & { cluster: string }): Promise<EtcdObjectStore> => {
    const store = await EtcdObjectStore.open({ endpoints: [etcd.endpoint], log: collectingLogger().log, ...options });
    stores.push(store);
    return store;
  };

  before(async () => {
    etcd = await EtcdServer.start();
  });
  after(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await etcd?.remove();
  });

  it("creates, gets, lists, updates and deletes objects, with etcd's mod_revision as the revision", async () => {
    const store = await open({ cluster: cluster() });
    assert.deepEqual(store.list(), []);
    const created = await store.create(pipeline("a"));
    assert.ok(created.revision > 0);
    assert.deepEqual(store.get("a"), created);
    await store.create(pipeline("b"));
    assert.deepEqual(names(store), ["a", "b"]);

    const updated = await store.update(pipeline("a", 2), created.revision);
    assert.ok(updated.revision > created.revision);
    assert.deepEqual(store.get("a")?.object.data.filters, [{ kind: "Validator", marker: 2 }]);
    assert.deepEqual(names(store), ["a", "b"], "an update keeps the object's place");
    const unconditional = await store.update(pipeline("a", 3));
    assert.equal(store.get("a")?.revision, unconditional.revision);

    await store.delete("a");
    assert.equal(store.get("a"), undefined);
    assert.deepEqual(names(store), ["b"]);
  });

  it("refuses a taken name (409), a stale revision (409) and a missing object (404)", async () => {
    const store = await open({ cluster: cluster() });
    const first = await store.create(pipeline("a"));
    await assert.rejects(store.create(pipeline("a", 2)), (error) => error instanceof ObjectExistsError);
    await assert.rejects(store.create({ kind: "HTTPServer", name: "a", data: { kind: "HTTPServer", name: "a" } }), {
      status: 409,
      code: "WSG_OBJECT_EXISTS",
    });
    await store.update(pipeline("a", 2), first.revision);
    await assert.rejects(
      store.update(pipeline("a", 3), first.revision),
      (error) => error instanceof StaleRevisionError && error.status === 409,
    );
    await assert.rejects(store.update(pipeline("none")), (error) => error instanceof ObjectNotFoundError);
    await assert.rejects(store.update(pipeline("none"), 0), (error) => error instanceof ObjectNotFoundError);
    await assert.rejects(store.delete("none"), { status: 404 });
    assert.equal(store.get("none"), undefined, "a refused update creates nothing");
  });

  it("tells listeners the whole set before a write resolves, own writes included", async () => {
    const store = await open({ cluster: cluster() });
    const seen: string[][] = [];
    store.onChange((objects) => seen.push(objects.map((object) => object.name)));
    await store.create(pipeline("a"));
    assert.deepEqual(seen, [["a"]]);
    await store.create(pipeline("b"));
    await store.delete("a");
    assert.deepEqual(seen, [["a"], ["a", "b"], ["b"]]);
  });

  it("loads existing objects in creation order and shares them between members of one cluster", async () => {
    const name = cluster();
    const first = await open({ cluster: name });
    await first.create(pipeline("z"));
    await first.create(pipeline("a"));
    await first.create(pipeline("m"));
    const second = await open({ cluster: name });
    assert.deepEqual(names(second), ["z", "a", "m"]);

    const heard: string[][] = [];
    second.onChange((objects) => heard.push(objects.map((object) => object.name)));
    const started = Date.now();
    await first.create(pipeline("n"));
    await waitUntil(() => (second.get("n") !== undefined ? true : undefined), 3000, "the other member to see it");
    assert.ok(Date.now() - started < 3000);
    assert.deepEqual(heard.at(-1), ["z", "a", "m", "n"]);
    await second.update(pipeline("z", 5), second.get("z")?.revision);
    await waitUntil(() => (first.get("z")?.object.data.filters ? first.get("z") : undefined), 1000, "the update");
    await waitUntil(() => (first.get("z")?.revision === second.get("z")?.revision ? true : undefined), 1000, "sync");
  });

  it("keeps clusters apart", async () => {
    const red = await open({ cluster: cluster() });
    const blue = await open({ cluster: cluster() });
    await red.create(pipeline("a"));
    await blue.create(pipeline("b"));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(names(red), ["a"]);
    assert.deepEqual(names(blue), ["b"]);
  });

  it("seeds by creating or updating, without deleting others and without rewriting equal values", async () => {
    const store = await open({ cluster: cluster() });
    await store.create(pipeline("added-by-admin"));
    const kept = await store.create(pipeline("same"));
    const changes: string[][] = [];
    store.onChange((objects) => changes.push(objects.map((object) => object.name)));
    await store.replaceAll([pipeline("same"), pipeline("new"), pipeline("added-by-admin", 9)]);
    assert.deepEqual(names(store), ["added-by-admin", "same", "new"]);
    assert.deepEqual(
      store.get("added-by-admin")?.object.data.filters,
      [{ kind: "Validator", marker: 9 }],
      "every event of the one transaction is applied, though they share its revision",
    );
    assert.equal(store.get("same")?.revision, kept.revision, "an equal value is not rewritten");
    assert.equal(changes.length, 1, "one transaction, one change");
    await store.replaceAll([pipeline("same")]);
    assert.equal(changes.length, 1, "nothing to write, nothing to report");
  });

  it("skips a value that is not an object, logs it once, and keeps the last good version", async () => {
    const name = cluster();
    const { log, lines } = collectingLogger();
    const store = await open({ cluster: name, log });
    await store.create(pipeline("good"));
    const good = store.get("good");
    const client = createEtcdClient({ endpoints: [etcd.endpoint] });
    try {
      await client.put(`${store.keys.objectsPrefix}good`).value("{not json");
      await client.put(`${store.keys.objectsPrefix}wrong-name`).value(JSON.stringify(pipeline("other").data));
      await client.put(`${store.keys.objectsPrefix}later`).value(JSON.stringify(pipeline("later").data));
    } finally {
      client.close();
    }
    await waitUntil(() => store.get("later"), 2000, "the later object");
    assert.deepEqual(store.get("good"), good);
    assert.equal(store.get("wrong-name"), undefined);
    const bad = lines.filter((line) => line.event === "store_bad_value");
    assert.equal(bad.length, 2);
    // A second member loading the same broken values logs them too, and skips them the same way.
    const second = await open({ cluster: name });
    assert.deepEqual(names(second), ["later"]);
  });
});

describe("EtcdObjectStore while etcd is away", { skip }, () => {
  let etcd: EtcdServer;
  const stores: EtcdObjectStore[] = [];

  before(async () => {
    etcd = await EtcdServer.start();
  });
  after(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await etcd?.remove();
  });

  it("keeps serving the mirror, refuses writes clearly, and catches up when etcd returns", async () => {
    const { log, lines } = collectingLogger();
    const options = { endpoints: [etcd.endpoint], cluster: "outage", callTimeoutMs: 1000, maxBackoffMs: 1000 };
    const store = await EtcdObjectStore.open({ ...options, log });
    stores.push(store);
    const other = await EtcdObjectStore.open({ ...options, log: collectingLogger().log });
    stores.push(other);
    await store.create(pipeline("before"));
    const changes: string[][] = [];
    store.onChange((objects) => changes.push(objects.map((object) => object.name)));

    await etcd.stop();
    await waitUntil(() => (store.state.state === "unavailable" ? true : undefined), 5000, "the store to notice");
    assert.deepEqual(names(store), ["before"], "the mirror stays");
    const started = Date.now();
    await assert.rejects(store.create(pipeline("during")), (error) => {
      assert.ok(error instanceof StoreUnavailableError, String(error));
      assert.equal(error.status, 503);
      assert.match(error.message, /cannot create during: the cluster store is unavailable/);
      return true;
    });
    assert.ok(Date.now() - started < 5000, "a write fails within the call deadline");
    await new Promise((resolve) => setTimeout(resolve, 1500));

    await etcd.resume();
    // Written at once, most likely before `store` has reconnected: it must still arrive (replayed or re-listed).
    await withTimeout(other.create(pipeline("after")), 5000, "the other member's write");
    await other.delete("before");
    await waitUntil(() => (names(store).join() === "after" ? true : undefined), 10_000, "the store to catch up");
    assert.equal(store.state.state, "connected");
    const states = lines.filter((line) => line.event === "store_state").map((line) => line.state);
    assert.deepEqual(states, ["unavailable", "connected"], "logged once per state change");
    assert.deepEqual(changes.at(-1), ["after"]);
    await store.create(pipeline("writes-again"));
    await waitUntil(() => other.get("writes-again"), 1000, "the other member to see a write after the outage");
  });

  it("catches up with changes made while it was cut off, even when etcd compacted them away", async () => {
    const relay = await CuttableRelay.start(etcd.clientPort);
    const { log, lines } = collectingLogger();
    const options = { cluster: "partition", callTimeoutMs: 1000, maxBackoffMs: 500 };
    const store = await EtcdObjectStore.open({ ...options, endpoints: [`http://127.0.0.1:${relay.port}`], log });
    const other = await EtcdObjectStore.open({ ...options, endpoints: [etcd.endpoint], log: collectingLogger().log });
    stores.push(store, other);
    try {
      await other.create(pipeline("kept"));
      await other.create(pipeline("removed"));
      await waitUntil(() => store.get("removed"), 2000, "the first objects");
      const changes: string[][] = [];
      store.onChange((objects) => changes.push(objects.map((object) => object.name)));

      relay.cut();
      await waitUntil(() => (store.state.state === "unavailable" ? true : undefined), 5000, "the cut to be noticed");
      await other.delete("removed");
      await other.update(pipeline("kept", 2));
      await other.create(pipeline("added"));
      // Compact past everything the cut-off store saw: its watch cannot resume and it must list again.
      const compacting = createEtcdClient({ endpoints: [etcd.endpoint] });
      try {
        const revision = (await compacting.get("/wsgate/none").exec()).header.revision;
        await compacting.kv.compact({ revision, physical: true });
      } finally {
        compacting.close();
      }
      relay.restore();
      await waitUntil(() => (names(store).join() === "kept,added" ? true : undefined), 10_000, "the catch-up");
      assert.deepEqual(store.get("kept")?.object.data.filters, [{ kind: "Validator", marker: 2 }]);
      assert.deepEqual(changes, [["kept", "added"]], "the listeners hear the new set once");
      assert.equal(store.state.state, "connected");
      // And the watch works again afterwards.
      await other.create(pipeline("later"));
      await waitUntil(() => store.get("later"), 3000, "a change after the catch-up");
      assert.ok(lines.some((line) => line.event === "store_state" && line.state === "connected"));
      assert.ok(
        lines.some((line) => line.event === "store_watch_cancelled"),
        "the compacted watch was replaced",
      );
    } finally {
      await relay.close();
    }
  });

  it("waits for etcd at start up to the timeout, then throws StoreStartTimeoutError", async () => {
    const { log, lines } = collectingLogger();
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    await assert.rejects(
      EtcdObjectStore.open({ endpoints: [nobody], cluster: "late", log, startTimeoutMs: 1500, callTimeoutMs: 500 }),
      (error) => error instanceof StoreStartTimeoutError && error.message.includes(nobody),
    );
    const waited = Date.now() - started;
    assert.ok(waited >= 500 && waited < 5000, `waited ${waited} ms`);
    assert.equal(lines.filter((line) => line.event === "store_waiting").length, 1, "one clear line, not one per try");
  });

  it("starts once etcd comes up within the timeout", async () => {
    await etcd.stop();
    const opening = EtcdObjectStore.open({
      endpoints: [etcd.endpoint],
      cluster: "outage",
      log: collectingLogger().log,
      startTimeoutMs: 15_000,
      maxBackoffMs: 500,
    });
    await new Promise((resolve) => setTimeout(resolve, 700));
    await etcd.resume();
    const store = await withTimeout(opening, 10_000, "the store to open");
    stores.push(store);
    assert.ok(names(store).includes("after"));
  });
});
