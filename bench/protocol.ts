/**
 * Messages between the bench orchestrator (run.ts) and its load-generator worker processes (load.ts), sent over
 * the fork IPC channel with `serialization: "advanced"` so that latency samples travel as Float64Arrays.
 */

/** A measured loop: echo (one message in flight per connection), stream (pipelined), handshake (open/echo/close). */
export type LoadKind = "echo" | "stream" | "handshake";

/** Opens connections and keeps them (for the echo and stream loops, and for the idle scenario). */
export interface OpenCommand {
  type: "open";
  url: string;
  connections: number;
  /** Handshakes outstanding at once in this worker. */
  concurrency: number;
}

export interface RunCommand {
  type: "run";
  kind: LoadKind;
  /** Payload size in bytes. */
  size: number;
  /** stream: messages kept in flight per connection. */
  inFlight: number;
  /** handshake: concurrent open → echo → close loops in this worker. */
  loops: number;
  /** handshake: where the loops connect. */
  url: string;
  durationMs: number;
  /** handshake: stop after this many cycles in this worker (a warm-up by cycle count), whatever is left of the time. */
  cycles?: number;
  /** handshake: close as Go clients do: after both close frames, wait for the server's FIN before sending ours. */
  serverClosesFirst?: boolean;
  /** Latencies are recorded only when true (warm-up runs skip the bookkeeping of results). */
  record: boolean;
}

/** Closes every kept connection (close handshake, then terminate what is left). */
export interface CloseCommand {
  type: "close";
}

/** Sends one message on every kept connection and waits for its echo. */
export interface CheckCommand {
  type: "check";
  size: number;
}

export type Command = OpenCommand | RunCommand | CloseCommand | CheckCommand;

/** Counts of things that went wrong, by a short description (e.g. "close 1006", "error ECONNRESET"). */
export type Tally = Record<string, number>;

export interface OpenReply {
  type: "opened";
  opened: number;
  failed: number;
  problems: Tally;
}

export interface RunReply {
  type: "result";
  /** Messages echoed (echo, stream) or open → echo → close cycles completed (handshake). */
  count: number;
  /** From the first send to the last reply, in ms. */
  elapsedMs: number;
  /** Round-trip (or cycle) times in ms: all of them, or a uniform sample when there were more than fit. */
  latencies: Float64Array;
  /** How many latencies the sample stands for. */
  latencySeen: number;
  /** This worker's own CPU time during the run (µs). */
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Messages (or cycles) that did not come back before the drain time ran out. */
  unanswered: number;
  problems: Tally;
}

export interface ClosedReply {
  type: "closed";
  /** Connections whose close handshake finished in time. */
  graceful: number;
  /** Connections that had to be terminated (or were already gone). */
  forced: number;
  problems: Tally;
}

export interface CheckReply {
  type: "checked";
  ok: number;
  failed: number;
  problems: Tally;
}

export interface ErrorReply {
  type: "error";
  message: string;
}

export type Reply = OpenReply | RunReply | ClosedReply | CheckReply | ErrorReply;

export function addTally(tally: Tally, key: string, by = 1): void {
  tally[key] = (tally[key] ?? 0) + by;
}

export function mergeTallies(tallies: readonly Tally[]): Tally {
  const merged: Tally = {};
  for (const tally of tallies) for (const [key, count] of Object.entries(tally)) addTally(merged, key, count);
  return merged;
}

export function formatTally(tally: Tally): string {
  return Object.entries(tally)
    .sort((a, b) => b[1] - a[1])
    .map(([key, count]) => `${key} ×${count}`)
    .join(", ");
}
