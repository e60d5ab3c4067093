import { constants, PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * The young generation (V8's new space, two semi-spaces) is grown to this many bytes once, then grows no further. V8
 * doubles it while most of what it allocates survives, up to 32 MiB (16 MiB semi-spaces on 64-bit): a burst of
 * connections (thousands of sessions opening, nearly all of whose objects live on) takes it there, 16 MiB of RSS that
 * stays however quiet the gateway then is. 16 MiB is what `--max-semi-space-size=8` gives; that flag works only on the
 * command line (the heap is set up before any code runs), while the growth factor can be changed at run time, and is.
 */
const YOUNG_GENERATION_CAP_BYTES = 16 * 1024 * 1024;

/**
 * Bytes the growth may allocate without the young generation growing, times its size, before it gives up: V8 has
 * reached its own maximum. One doubling takes about three semi-spaces (one and a half times the size).
 */
const YOUNG_GENERATION_STALL_FACTOR = 4;

let tuned = false;

/**
 * V8 settings for a process that serves connections: call it first, before the process loads the gateway (the cap
 * holds only if the young generation has not yet grown past it). Once per process; later calls do nothing.
 *
 * Allocation-site pretenuring off: V8 starts allocating an object literal's objects directly in the old generation
 * once most of them outlive a young collection. In a gateway the literals allocated per connection (in Node's
 * sockets and streams, and in the session's own records) pass that test as soon as some sessions last (an hour-long
 * feed does), and from then on those objects are born old for every connection, short ones included. A dead
 * old object is only found at the next full collection, and until then it keeps the young objects it points at
 * (the connection's sockets, buffers and closures) alive through every young collection, which copies them and
 * finally promotes them. Measured after a minute of long echo sessions, on the open/echo/close bench: 1.4 MiB
 * promoted per young collection with pretenuring, 15 KiB without; pauses 5.2 ms against 1.3 ms.
 *
 * The young generation is grown to YOUNG_GENERATION_CAP_BYTES at once and stops there (see growYoungGenerationTo);
 * when a quiet spell has shrunk it, it is grown back the same way once allocation resumes (growBackAfterShrinking).
 */
export function tuneProcessForServing(): void {
  if (tuned) return;
  tuned = true;
  v8.setFlagsFromString("--no-allocation-site-pretenuring");
  // Where V8 cannot grow it as far (a smaller --max-semi-space-size given by the operator), what it reached is the cap.
  growBackAfterShrinking(growYoungGenerationTo(YOUNG_GENERATION_CAP_BYTES));
}

/**
 * V8 settings for a cluster's primary, which serves no connection (its workers do): the young generation keeps V8's
 * initial size instead of growing to 32 MiB while the gateway's modules load, and V8's shrink after a quiet spell is
 * not undone. Measured on `run --workers 2`: the primary's new space was 16 MiB tuned for serving (32 MiB untuned, as
 * module loading grows it) and is 1–2 MiB with this; its RSS at start 89–92 MiB, now 78.
 */
export function tuneProcessForPrimary(): void {
  if (tuned) return;
  tuned = true;
  v8.setFlagsFromString("--semi-space-growth-factor=1");
}

let startCollected = false;

/**
 * One full collection once the gateway serves (listening, before its first connection): what starting left in the
 * old generation (module loading, config validation and compilation, promoted by the young collections of the start)
 * is garbage by then and nothing has collected it. Left there, it was collected by the first mark-compact V8 chose
 * to run, which the first burst of connections triggers at a point of its own: early in the burst, the freed space
 * took the sessions' objects; late in it, the sessions had already taken new pages and the freed space stayed
 * committed between them (measured on the bench's 2,000 idle sessions: old-space pages grew by 4 or by 8 MiB, about
 * 2 KiB per session more in the rounds where the collection came late). Collected here, a burst starts from an old
 * generation without garbage. Once per process; later calls do nothing.
 */
export function collectStartGarbage(): void {
  if (startCollected) return;
  startCollected = true;
  // Started with --expose-gc (an operator debugging): that gc, and the flag left as it was.
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === "function") {
    exposed();
    return;
  }
  // The only way to ask V8 for a full collection from JavaScript: `gc` exists in a context made while --expose-gc is
  // set. The flag is cleared again so that no later context has it.
  v8.setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  v8.setFlagsFromString("--no-expose-gc");
  gc();
}

function youngGenerationBytes(): number {
  return v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size ?? 0;
}

/**
 * Grows the young generation to `cap` bytes now, synchronously, so that stopping its growth there cannot come late.
 * Stopping it from an observer of garbage collections did: the observer runs a turn of the event loop after the
 * collection, and the gateway's own start (loading modules and config, all in one turn) or a burst of opens could
 * double the young generation twice before that (a start at 32 MiB was seen in 1 of 8). V8 doubles the young
 * generation once more bytes have survived young collections since the last doubling than a semi-space holds, so this
 * keeps a window of a quarter of the young generation (half a semi-space) alive: every collection finds it alive and
 * copies it, none keeps an entry long enough to promote it. It checks the size after every 64 KiB allocated, far less
 * than the bytes that must survive for another doubling, so the growth stops at `cap` exactly. Returns the size
 * reached: less than `cap` where V8's maximum is lower (it stops once 4 times the size went by without a doubling).
 */
function growYoungGenerationTo(cap: number): number {
  const ENTRY_BYTES = 1024; // an Array of 124 holes: its 1,008 B backing store and 32 B header
  const CHECK_EVERY = 64;
  const window: unknown[] = [];
  let size = youngGenerationBytes();
  v8.setFlagsFromString("--semi-space-growth-factor=2");
  for (let sinceGrowth = 0, next = 0; size < cap && sinceGrowth < YOUNG_GENERATION_STALL_FACTOR * size;) {
    const entries = Math.max(CHECK_EVERY, size / 4 / ENTRY_BYTES);
    for (let i = 0; i < CHECK_EVERY; i++, next++) window[next % entries] = new Array(124);
    sinceGrowth += CHECK_EVERY * ENTRY_BYTES;
    const now = youngGenerationBytes();
    if (now !== size) sinceGrowth = 0;
    size = now;
  }
  v8.setFlagsFromString("--semi-space-growth-factor=1");
  return size;
}

/**
 * Grows the young generation back to `cap` when V8 has shrunk it and allocation has resumed. V8's memory reducer
 * shrinks it to its initial 1 MiB after about ten quiet seconds (and a full collection at a low allocation rate
 * halves it); with growth stopped for good it would stay there, and every burst after the first quiet spell (a
 * reconnect storm) would run on a young generation 16 times smaller: more collections, more promoted. Growth stays
 * stopped meanwhile (factor 1), so it cannot overshoot; the first young collection after a shrink (allocation has
 * resumed: the shrink was not undone while the process is quiet) grows it back, synchronously, as at the start.
 */
function growBackAfterShrinking(cap: number): void {
  let target = cap;
  regrowing = new PerformanceObserver((list) => {
    if (youngGenerationBytes() >= target) return;
    if (!list.getEntries().some((entry) => gcKind(entry) === constants.NODE_PERFORMANCE_GC_MINOR)) return;
    // Should V8 not let it grow as far again, what it reached is the target: no second try at each collection.
    target = Math.min(target, growYoungGenerationTo(target));
  });
  regrowing.observe({ entryTypes: ["gc"] });
}

let regrowing: PerformanceObserver | undefined;

/**
 * For a process tuned before it knew it would serve no connection: the primary of a cluster whose worker count came
 * from the config file, read after tuning. Its young generation is no longer grown back, so V8's shrink after a quiet
 * spell holds (16 MiB of semi-spaces, about 19 MiB of RSS measured); a primary only relays admin API calls.
 */
export function stopGrowingBack(): void {
  regrowing?.disconnect();
  regrowing = undefined;
}

/** A collection's kind (`detail.kind`, Node 16+; the typings of this Node version lack it). */
function gcKind(entry: PerformanceEntry): number | undefined {
  return (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
}
