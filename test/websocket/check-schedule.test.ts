import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CheckSchedule, checkClock, type ScheduledCheck } from "../../src/websocket/check-schedule.js";

/** A check that records when it ran and may schedule itself again. */
function check(name: string, ran: string[], again?: (now: number) => number | undefined): ScheduledCheck {
  return {
    scheduledAt: 0,
    scheduleIndex: -1,
    onScheduled(now) {
      ran.push(name);
      const next = again?.(now);
      if (next !== undefined) schedule.set(this, next);
    },
  };
}

let schedule = new CheckSchedule();

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("CheckSchedule: one timer for every session's checks", () => {
  it("runs checks in the order of their due times, moved and cleared ones included", async () => {
    schedule = new CheckSchedule();
    const ran: string[] = [];
    const now = checkClock();
    // Many checks in a random order of due times: the heap must give them back sorted.
    const checks = Array.from({ length: 200 }, (_, i) => check(`c${i}`, ran));
    const order = checks.map((_, i) => i).sort(() => Math.random() - 0.5);
    order.forEach((i, rank) => schedule.set(checks[i] as ScheduledCheck, now + 20 + rank * 0.1 + (i % 7)));
    const moved = checks[5] as ScheduledCheck;
    schedule.set(moved, now + 5);
    const cleared = checks[6] as ScheduledCheck;
    schedule.clear(cleared);
    assert.equal(cleared.scheduleIndex, -1);
    assert.equal(schedule.size, 199);
    await sleep(120);
    assert.equal(ran.length, 199);
    assert.equal(ran[0], "c5");
    assert.ok(!ran.includes("c6"));
    const dueOf = new Map(checks.map((c, i) => [`c${i}`, c.scheduledAt]));
    for (let i = 1; i < ran.length; i++) {
      assert.ok(
        (dueOf.get(ran[i - 1] as string) as number) <= (dueOf.get(ran[i] as string) as number),
        `order at ${i}`,
      );
    }
    assert.equal(schedule.size, 0);
  });

  it("a check that schedules itself again runs again later; the last one gone takes the timer with it", async () => {
    schedule = new CheckSchedule();
    const before = activeTimeouts();
    const ran: string[] = [];
    let times = 0;
    const repeating = check("r", ran, (now) => (++times < 3 ? now + 10 : undefined));
    const other = check("o", ran);
    schedule.set(repeating, checkClock() + 10);
    schedule.set(other, checkClock() + 1000);
    assert.equal(activeTimeouts(), before + 1);
    await sleep(150);
    assert.deepEqual(ran, ["r", "r", "r"]);
    schedule.clear(other);
    assert.equal(schedule.size, 0);
    assert.equal(activeTimeouts(), before, "no timer left once nothing is scheduled");
  });

  it("a check may clear another from its own run; nothing cleared runs", async () => {
    schedule = new CheckSchedule();
    const ran: string[] = [];
    const at = checkClock() + 10;
    const victim = check("victim", ran);
    const killer: ScheduledCheck = {
      scheduledAt: 0,
      scheduleIndex: -1,
      onScheduled() {
        ran.push("killer");
        schedule.clear(victim);
      },
    };
    schedule.set(killer, at);
    schedule.set(victim, at + 1);
    await sleep(80);
    assert.deepEqual(ran, ["killer"]);
    assert.equal(schedule.size, 0);
  });
});
