// A primary's part in the session relay: it forwards each lane's envelopes between the lane's origin side (towards
// the old worker) and its taker side (towards the new worker), sockets as raw handles it never reads and closes once
// forwarded, in order. A hop that breaks ends the lane both ways (handover-relay-protocol.ts).
import type { ChildProcess } from "node:child_process";
import type { Logger } from "../observability/logger.js";
import { endEnvelope, type RelayEnvelope } from "./handover-relay-protocol.js";
import { RelayPort, closeRaw, type IpcEnd, type RawHandle } from "./handover-relay-port.js";

type Side = "origin" | "taker";

interface Lane {
  origin: RelayPort;
  taker: RelayPort;
}

/** How a lane ended: its `done` went through, or a hop broke (`reason`). */
export type LaneEnd = { lane: number; how: "done" } | { lane: number; how: "broken"; reason: string };

export interface RelayHubOptions {
  log: Logger;
  /** The taker-side channel a new lane goes to (undefined: none; the lane is ended back at once). */
  route(lane: number): { end: IpcEnd; child?: ChildProcess; name: string } | undefined;
  onLaneEnd?: (end: LaneEnd) => void;
}

export class RelayHub {
  private readonly lanes = new Map<number, Lane>();
  private readonly sides = new Map<RelayPort, Side>();
  private readonly ports = new Map<IpcEnd, RelayPort>();
  private closed = false;
  private readonly idleWaiters = new Set<() => void>();

  constructor(private readonly options: RelayHubOptions) {}

  /** A channel towards old workers: lanes begin with its messages. */
  addOrigin(end: IpcEnd, name: string, child?: ChildProcess): void {
    this.port(end, "origin", name, child);
  }

  /** Lanes under way (begun, not ended or done). */
  get activeLanes(): number {
    return this.lanes.size;
  }

  /**
   * Resolves once no lane is under way (each one's `done` or `end` went through), or after `timeoutMs`. An old
   * worker's report can reach its primary ahead of its `done` (the relay writes in order behind a confirm): wait for
   * this before `close()`, which would end such a lane with `end` instead (the new worker takes it the same way).
   */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.lanes.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve(this.lanes.size === 0);
      };
      const timer = setTimeout(done, timeoutMs);
      this.idleWaiters.add(done);
    });
  }

  /** Stops forwarding and listening; lanes still under way are ended towards both sides first. */
  close(): void {
    if (this.closed) return;
    for (const id of [...this.lanes.keys()]) this.endLane(id, "the relay was closed", false);
    for (const wake of [...this.idleWaiters]) wake();
    this.closed = true;
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
    this.sides.clear();
  }

  private port(end: IpcEnd, side: Side, name: string, child?: ChildProcess): RelayPort {
    const known = this.ports.get(end);
    if (known !== undefined) return known;
    const port = new RelayPort(end, name, { envelope: this.onEnvelope, gone: this.onGone }, child);
    this.ports.set(end, port);
    this.sides.set(port, side);
    return port;
  }

  private readonly onEnvelope = (from: RelayPort, envelope: RelayEnvelope, handle: RawHandle | undefined): void => {
    const id = envelope.lane;
    let lane = this.lanes.get(id);
    if (this.sides.get(from) === "origin") {
      if (lane === undefined) {
        // A lane begins with a message; a confirm or an end for a lane not (or no longer) here has nowhere to go.
        if (envelope.kind !== "message" || this.closed) {
          closeRaw(handle);
          return;
        }
        const route = this.options.route(id);
        if (route === undefined) {
          closeRaw(handle);
          from.send(endEnvelope(id, "no process to take the sessions", false));
          this.options.onLaneEnd?.({ lane: id, how: "broken", reason: "no process to take the sessions" });
          return;
        }
        lane = { origin: from, taker: this.port(route.end, "taker", route.name, route.child) };
        this.lanes.set(id, lane);
      } else if (lane.origin !== from) {
        // Two old workers on one lane: the orchestration's mistake, and the second one's sessions stay with it.
        this.options.log.warn({ lane: id, from: from.name }, "session relay: a lane claimed twice; ignored");
        closeRaw(handle);
        return;
      }
      lane.taker.send(envelope, handle);
    } else {
      if (lane === undefined || lane.taker !== from) {
        closeRaw(handle);
        return;
      }
      lane.origin.send(envelope, handle);
    }
    if (envelope.kind === "end") this.forget(id, { lane: id, how: "broken", reason: envelope.reason });
    else if (envelope.kind === "message" && envelope.last === true) this.forget(id, { lane: id, how: "done" });
  };

  private readonly onGone = (port: RelayPort, why: string, exited: boolean): void => {
    for (const [id, lane] of [...this.lanes]) {
      if (lane.origin === port || lane.taker === port) this.endLane(id, why, lane.origin === port && exited);
    }
    this.ports.delete(port.end);
    this.sides.delete(port);
    port.close();
  };

  /** Ends lane `id` on both sides (the side that is gone drops it). */
  private endLane(id: number, reason: string, originGone: boolean): void {
    const lane = this.lanes.get(id);
    if (lane === undefined) return;
    this.options.log.warn({ lane: id, reason, originGone }, "session relay: a lane broke");
    lane.taker.send(endEnvelope(id, reason, originGone));
    lane.origin.send(endEnvelope(id, reason, false));
    this.forget(id, { lane: id, how: "broken", reason });
  }

  private forget(id: number, end: LaneEnd): void {
    this.lanes.delete(id);
    this.options.onLaneEnd?.(end);
    if (this.lanes.size === 0) for (const wake of [...this.idleWaiters]) wake();
  }
}
