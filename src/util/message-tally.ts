// What the relay counts per message for the message histograms: one tally per route and direction, shared by every
// session on it, bumped once per message (a bucket index from the size's bit length) and once per control frame.
// Read at scrape time (observability/message-metrics.ts); nothing here allocates after construction.

/** Upper bounds (bytes, inclusive) of the message size buckets: powers of 4 from 64 B to 16 MiB; then +Inf. */
export const MESSAGE_SIZE_BOUNDS = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216] as const;
/** Upper bounds of the frames-per-message buckets; then +Inf. */
export const FRAMES_PER_MESSAGE_BOUNDS = [1, 2, 4, 8, 16, 64, 256] as const;

const LARGEST_SIZE_BOUND = 16777216;

/** The bucket of a message of `size` bytes: the first bound at or above it (index MESSAGE_SIZE_BOUNDS.length: +Inf). */
export function sizeBucket(size: number): number {
  if (size <= 64) return 0;
  if (size > LARGEST_SIZE_BOUND) return MESSAGE_SIZE_BOUNDS.length;
  // size - 1 < 2^bits: the bound 64 * 4^k is the first at or above size for k = ceil((bits - 6) / 2).
  const bits = 32 - Math.clz32(size - 1);
  return (bits - 5) >> 1;
}

/** The bucket of a message of `frames` frames (index FRAMES_PER_MESSAGE_BOUNDS.length: +Inf). */
export function framesBucket(frames: number): number {
  if (frames <= 16) return frames <= 1 ? 0 : 32 - Math.clz32(frames - 1);
  if (frames <= 64) return 5;
  return frames <= 256 ? 6 : 7;
}

/** One direction of one route: message sizes and frames per message (per bucket, not cumulative), control frames. */
export class MessageTally {
  readonly sizes = new Float64Array(MESSAGE_SIZE_BOUNDS.length + 1);
  sizeSum = 0;
  readonly frames = new Float64Array(FRAMES_PER_MESSAGE_BOUNDS.length + 1);
  frameSum = 0;
  /** Control frames received from this direction's sender. */
  pings = 0;
  pongs = 0;
  closes = 0;

  /** A data message ended: `size` payload bytes (all fragments) in `frames` frames. */
  message(size: number, frames: number): void {
    (this.sizes[sizeBucket(size)] as number)++;
    this.sizeSum += size;
    (this.frames[framesBucket(frames)] as number)++;
    this.frameSum += frames;
  }

  /** A control frame (opcode 0x8 close, 0x9 ping, 0xA pong) was read to its end. */
  control(opcode: number): void {
    if (opcode === 0x9) this.pings++;
    else if (opcode === 0xa) this.pongs++;
    else this.closes++;
  }
}
