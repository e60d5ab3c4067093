/**
 * One timer for the periodic checks of every session (pings, pong deadlines, idle and frame checks), instead of a
 * Timeout of each session's own: a held session keeps a slot in a binary heap (8 B) and an index, where a Timeout
 * and its callback took 176 B, and starting or ending a session moves no timer list of Node's. Due times are exact
 * (ms on `checkClock()`, as the sessions set them): no coarser tick than a timer of their own would give.
 */
/** Where `checkClock()` starts: the process's first use of the schedule (ms since epoch). */
export const CHECK_CLOCK_ORIGIN = Date.now();

/** The largest small integer V8 keeps unboxed (31-bit Smis with pointer compression). */
const SMI_MAX = 2 ** 30 - 1;

/**
 * The clock of due times: ms since CHECK_CLOCK_ORIGIN. A small integer (a Smi to V8, up to 2^30 ms: 12 days of
 * uptime) where ms since epoch is not: every due time a session keeps in a field would be a 16 B number box.
 */
export function checkClock(): number {
  const ms = Date.now() - CHECK_CLOCK_ORIGIN;
  // `| 0` makes it a Smi (a difference of two doubles is a double to V8, and a double stored once turns the field
  // into a boxed one for every object of its shape); past SMI_MAX it stays the exact double.
  return ms <= SMI_MAX ? ms | 0 : ms;
}

export interface ScheduledCheck {
  /** When it is due (ms on checkClock()); set by the schedule. */
  scheduledAt: number;
  /** Its place in the schedule, -1 when not scheduled; kept by the schedule. */
  scheduleIndex: number;
  /** It is due: `now` is the time the schedule read; a check scheduled again must be due after `now`. */
  onScheduled(now: number): void;
}

export class CheckSchedule {
  /** A binary min-heap on `scheduledAt`. */
  private readonly heap: ScheduledCheck[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (ms on checkClock()); 0 with no timer. */
  private timerAt = 0;
  /** Checks are being run: the timer is set once they are done. */
  private running = false;

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `check` for `at`, or moves it there. */
  set(check: ScheduledCheck, at: number): void {
    const index = check.scheduleIndex;
    check.scheduledAt = at;
    if (index < 0) {
      check.scheduleIndex = this.heap.length;
      this.heap.push(check);
      this.up(check.scheduleIndex);
    } else {
      this.down(this.up(index));
    }
    this.arm();
  }

  /** Takes `check` out of the schedule (nothing when it is not in it). */
  clear(check: ScheduledCheck): void {
    const index = check.scheduleIndex;
    if (index < 0) return;
    this.removeAt(index);
    // The last session gone takes the timer with it; otherwise an early wake-up finds nothing due and re-arms.
    if (this.heap.length === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = 0;
    }
  }

  private removeAt(index: number): void {
    const heap = this.heap;
    const check = heap[index] as ScheduledCheck;
    const last = heap.pop() as ScheduledCheck;
    check.scheduleIndex = -1;
    if (last === check) return;
    heap[index] = last;
    last.scheduleIndex = index;
    this.down(this.up(index));
  }

  /** The timer is set for the earliest due time, unless it already fires before it. */
  private arm(): void {
    if (this.running) return;
    const first = this.heap[0];
    if (first === undefined) return;
    const at = first.scheduledAt;
    if (this.timer !== undefined) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(1, at - checkClock()));
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = 0;
    const now = checkClock();
    this.running = true;
    try {
      // A check scheduled again is due after `now`: the loop ends.
      for (let first = this.heap[0]; first !== undefined && first.scheduledAt <= now; first = this.heap[0]) {
        this.removeAt(0);
        first.onScheduled(now);
      }
    } finally {
      this.running = false;
      this.arm();
    }
  };

  private up(index: number): number {
    const heap = this.heap;
    const check = heap[index] as ScheduledCheck;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as ScheduledCheck;
      if (parent.scheduledAt <= check.scheduledAt) break;
      heap[index] = parent;
      parent.scheduleIndex = index;
      index = parentIndex;
    }
    heap[index] = check;
    check.scheduleIndex = index;
    return index;
  }

  private down(index: number): void {
    const heap = this.heap;
    const size = heap.length;
    const check = heap[index] as ScheduledCheck;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (right < size && (heap[right] as ScheduledCheck).scheduledAt < (heap[left] as ScheduledCheck).scheduledAt) {
        child = right;
      }
      const smaller = heap[child] as ScheduledCheck;
      if (smaller.scheduledAt >= check.scheduledAt) break;
      heap[index] = smaller;
      smaller.scheduleIndex = index;
      index = child;
    }
    heap[index] = check;
    check.scheduleIndex = index;
  }
}

/** The process's schedule: every relay's checks. */
export const relayChecks = new CheckSchedule();
