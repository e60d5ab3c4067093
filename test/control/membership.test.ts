import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Etcd3 } from "etcd3";
import { createEtcdClient } from "../../src/control/etcd-client.js";
import { Membership, MemberIdError, listMembers } from "../../src/control/membership.js";
import type { MembershipOptions } from "../../src/control/membership.js";
import { collectingLogger } from "../helpers/check-backends.js";
import { EtcdServer, etcdMissing } from "../helpers/etcd.js";

const skip = etcdMissing();

describe("Membership", { skip }, () => {
  let etcd: EtcdServer;
  const clients: Etcd3[] = [];
  const client = (): Etcd3 => {
    const created = createEtcdClient({ endpoints: [etcd.endpoint], callTimeoutMs: 1000, maxBackoffMs: 500 });
    clients.push(created);
    return created;
  };
  const member = (overrides: Partial<MembershipOptions> & { id: string; cluster: string }): MembershipOptions => ({
    client: client(),
    address: "0.0.0.0",
    adminAddress: "127.0.0.1:2381",
    version: "0.1.0",
    sessionCount: () => 0,
    log: collectingLogger().log,
    ttlSeconds: 2,
    refreshMs: 100,
    ...overrides,
  });

  before(async () => {
    etcd = await EtcdServer.start();
  });
  after(async () => {
    for (const each of clients) each.close();
    await etcd?.remove();
  });

  it("lists a registered member with its addresses, version and live session count", async () => {
    let sessions = 3;
    const one = await Membership.join(member({ id: "one", cluster: "m1", sessionCount: () => sessions }));
    const listed = await one.listMembers();
    assert.equal(listed.length, 1);
    assert.deepEqual(
      { ...listed[0], startedAt: undefined },
      {
        id: "one",
        address: "0.0.0.0",
        adminAddress: "127.0.0.1:2381",
        version: "0.1.0",
        sessions: 3,
        startedAt: undefined,
      },
    );
    assert.ok(!Number.isNaN(Date.parse(listed[0]!.startedAt)));
    sessions = 7;
    const other = client();
    await waitUntilAsync(async () => (await listMembers(other, "m1"))[0]?.sessions === 7, 3000, "the refreshed count");
    await one.close();
    assert.deepEqual(await listMembers(other, "m1"), [], "a clean stop leaves at once");
  });

  it("drops a member that stopped without leaving once its lease expires", async () => {
    const survivor = await Membership.join(member({ id: "survivor", cluster: "m2" }));
    const crashing = member({ id: "crashing", cluster: "m2" });
    const doomed = await Membership.join(crashing);
    assert.deepEqual(
      (await survivor.listMembers()).map((each) => each.id),
      ["crashing", "survivor"],
    );
    // As if the process were killed: no revoke, no more keep-alives.
    doomed.abandon();
    crashing.client.close();
    const started = Date.now();
    await waitUntilAsync(async () => (await survivor.listMembers()).length === 1, 8000, "the lease to expire");
    assert.ok(Date.now() - started >= 1000, "not before the TTL");
    assert.deepEqual(
      (await survivor.listMembers()).map((each) => each.id),
      ["survivor"],
    );
    await survivor.close();
  });

  it("keeps other clusters' members apart and refuses ids that cannot be keys", async () => {
    const here = await Membership.join(member({ id: "a", cluster: "m3" }));
    const there = await Membership.join(member({ id: "b", cluster: "m4" }));
    assert.deepEqual(
      (await here.listMembers()).map((each) => each.id),
      ["a"],
    );
    await assert.rejects(Membership.join(member({ id: "a/b", cluster: "m3" })), MemberIdError);
    await here.close();
    await there.close();
  });

  it("registers again after etcd was away longer than the lease", async () => {
    const { log, lines } = collectingLogger();
    const back = await Membership.join(member({ id: "back", cluster: "m5", log }));
    const states = (): boolean[] =>
      lines.filter((line) => line.event === "member_state").map((line) => line.registered === true);
    try {
      await etcd.stop();
      // Longer than twice the TTL: etcd3 gives the lease up, so the member must register with a new one.
      await waitUntilAsync(async () => states().length === 2, 10_000, "the member to notice it lost its lease");
      await etcd.resume();
      await waitUntilAsync(async () => states().length === 3, 10_000, "the member to register again");
      assert.deepEqual(states(), [true, false, true]);
      assert.deepEqual(
        (await back.listMembers()).map((each) => each.id),
        ["back"],
      );
    } finally {
      await back.close();
    }
  });
});

async function waitUntilAsync(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
