// A worker's end of the session relay: its lanes over its own channel to the primary (`process`), next to the
// cluster's messages. The old worker hands over on `handoverChannel(lane)`; the new worker takes every lane that
// comes with `acceptSessions`.
import type { HandoverChannel } from "../proxy/handover-types.js";
import type { RelayEnvelope } from "./handover-relay-protocol.js";
import { OriginLane, TakerLane } from "./handover-relay-lane.js";
import { RelayPort, closeRaw, parentEnd, type IpcEnd, type RawHandle } from "./handover-relay-port.js";

/** Called with each lane that comes to the new worker: hand it to `Gateway.takeSessions`. */
export type LaneTaker = (channel: HandoverChannel, lane: number) => void;

export class WorkerRelay {
  private readonly port: RelayPort;
  private readonly origins = new Map<number, OriginLane>();
  private readonly takers = new Map<number, TakerLane>();
  private taker: LaneTaker | undefined;

  /** `end`: the channel to the primary; default this process's. Listens from now on (messages before wait). */
  constructor(end: IpcEnd = parentEnd()) {
    this.port = new RelayPort(end, "primary", { envelope: this.onEnvelope, gone: this.onGone });
  }

  /** Old worker: the channel for `Gateway.handOverSessions`, on `lane` (one per old worker, e.g. its index). */
  handoverChannel(lane: number): HandoverChannel {
    const open = this.origins.get(lane);
    if (open !== undefined && open.connected) throw new Error(`lane ${lane} is already handing over`);
    const channel = new OriginLane(lane, this.port);
    this.origins.set(lane, channel);
    return channel;
  }

  /** New worker: each lane that comes (and any that came already) goes to `take`. */
  acceptSessions(take: LaneTaker): void {
    this.taker = take;
    for (const channel of this.takers.values()) take(channel, channel.lane);
  }

  /** Stops listening; lanes under way end as if the channel closed. */
  close(): void {
    this.port.close();
    this.endAll("the relay was closed");
  }

  private readonly onEnvelope = (_port: RelayPort, envelope: RelayEnvelope, handle: RawHandle | undefined): void => {
    const lane = envelope.lane;
    const origin = this.origins.get(lane);
    if (origin !== undefined) {
      origin.receive(envelope, handle);
      if (!origin.connected) this.origins.delete(lane);
      return;
    }
    let taker = this.takers.get(lane);
    if (taker === undefined) {
      // A lane begins with a message; anything else is left over from one that ended.
      if (envelope.kind !== "message") {
        closeRaw(handle);
        return;
      }
      taker = new TakerLane(lane, this.port);
      this.takers.set(lane, taker);
      this.taker?.(taker, lane);
    }
    taker.receive(envelope, handle);
    if (!taker.connected) this.takers.delete(lane);
  };

  private readonly onGone = (_port: RelayPort, why: string): void => {
    this.endAll(why);
  };

  private endAll(why: string): void {
    for (const origin of this.origins.values()) origin.end(why);
    for (const taker of this.takers.values()) {
      taker.settleUnconfirmed(false, why);
      taker.end(why);
    }
    this.origins.clear();
    this.takers.clear();
  }
}
