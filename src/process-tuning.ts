import { PerformanceObserver } from "node:perf_hooks";
import v8 from "node:v8";

/**
 * The young generation (V8's new space, two semi-spaces) may grow to this many bytes, then no further. V8 doubles it
 * while most of what it allocates survives, up to 32 MiB (16 MiB semi-spaces on 64-bit): a gateway's start already
 * takes it to 16 MiB, and a burst of connections (thousands of sessions opening, nearly all of whose objects live on)
 * doubles it once more, 16 MiB of RSS that stays however quiet the gateway then is. 16 MiB is what
 * `--max-semi-space-size=8` gives; that flag works only on the command line (the heap is set up before any code
 * runs), while the growth factor can be changed at run time, and is: once the young generation has reached the cap.
 */
const YOUNG_GENERATION_CAP_BYTES = 16 * 1024 * 1024;

/**
 * V8 settings for a process that serves connections, applied before the gateway opens its first listener.
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
 * The young generation's growth stops at YOUNG_GENERATION_CAP_BYTES (see there).
 */
export function tuneProcessForServing(): void {
  v8.setFlagsFromString("--no-allocation-site-pretenuring");
  capYoungGeneration(YOUNG_GENERATION_CAP_BYTES);
}

function youngGenerationBytes(): number {
  return v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size ?? 0;
}

/**
 * Stops the young generation's growth once it has reached `cap` bytes: checked after each garbage collection (a
 * growth happens in one) until then. The observer runs a turn of the event loop after the collection, so a burst can
 * still bring one more doubling first (seen in 1 of 6 probe runs of 2,000 sessions opening at once).
 */
function capYoungGeneration(cap: number): void {
  const stopGrowing = (): boolean => {
    if (youngGenerationBytes() < cap) return false;
    v8.setFlagsFromString("--semi-space-growth-factor=1");
    return true;
  };
  if (stopGrowing()) return;
  const observer = new PerformanceObserver(() => {
    if (stopGrowing()) observer.disconnect();
  });
  observer.observe({ entryTypes: ["gc"] });
}
