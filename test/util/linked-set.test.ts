import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LinkedSet } from "../../src/util/linked-set.js";

interface Member {
  name: string;
}

function members(...names: string[]): Member[] {
  return names.map((name) => ({ name }));
}

function namesOf(set: LinkedSet<Member>): string[] {
  return [...set].map((member) => member.name);
}

describe("LinkedSet", () => {
  it("keeps members in insertion order and counts them", () => {
    const set = new LinkedSet<Member>();
    const [a, b, c] = members("a", "b", "c");
    assert.equal(set.add(a!), true);
    assert.equal(set.add(b!), true);
    assert.equal(set.add(c!), true);
    assert.deepEqual(namesOf(set), ["a", "b", "c"]);
    assert.equal(set.size, 3);
    assert.equal(set.has(b!), true);
  });

  it("adds a member once and deletes it once", () => {
    const set = new LinkedSet<Member>();
    const [a] = members("a");
    assert.equal(set.add(a!), true);
    assert.equal(set.add(a!), false);
    assert.equal(set.size, 1);
    assert.equal(set.delete(a!), true);
    assert.equal(set.delete(a!), false);
    assert.equal(set.size, 0);
    assert.equal(set.has(a!), false);
    assert.deepEqual(namesOf(set), []);
  });

  it("deletes the first, a middle and the last member and stays linked", () => {
    const set = new LinkedSet<Member>();
    const all = members("a", "b", "c", "d", "e");
    for (const member of all) set.add(member);
    set.delete(all[0]!);
    set.delete(all[2]!);
    set.delete(all[4]!);
    assert.deepEqual(namesOf(set), ["b", "d"]);
    set.add(all[0]!);
    assert.deepEqual(namesOf(set), ["b", "d", "a"]);
    set.delete(all[1]!);
    set.delete(all[3]!);
    set.delete(all[0]!);
    assert.equal(set.size, 0);
    set.add(all[2]!);
    assert.deepEqual(namesOf(set), ["c"]);
  });

  it("lets one object belong to several sets independently", () => {
    const first = new LinkedSet<Member>();
    const second = new LinkedSet<Member>();
    const [a, b] = members("a", "b");
    first.add(a!);
    first.add(b!);
    second.add(b!);
    second.add(a!);
    first.delete(a!);
    assert.deepEqual(namesOf(first), ["b"]);
    assert.deepEqual(namesOf(second), ["b", "a"]);
    assert.equal(second.has(a!), true);
  });

  it("iterates over the members of the moment while members come and go", () => {
    const set = new LinkedSet<Member>();
    const all = members("a", "b", "c");
    for (const member of all) set.add(member);
    const seen: string[] = [];
    for (const member of set) {
      seen.push(member.name);
      // What closing a session does: it leaves the set while the caller goes through it.
      set.delete(member);
      if (member.name === "a") set.add({ name: "late" });
    }
    assert.deepEqual(seen, ["a", "b", "c"]);
    assert.deepEqual(namesOf(set), ["late"]);
  });

  it("holds thousands of members through churn with exact counts", () => {
    const set = new LinkedSet<Member>();
    const live: Member[] = [];
    for (let round = 0; round < 5000; round++) {
      const member = { name: String(round) };
      set.add(member);
      live.push(member);
      if (live.length > 50) assert.equal(set.delete(live.shift()!), true);
    }
    assert.equal(set.size, 50);
    assert.deepEqual(
      namesOf(set),
      live.map((member) => member.name),
    );
  });
});
