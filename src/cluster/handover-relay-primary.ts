// The two primaries' relays of an upgrade under `--workers`: Node passes a socket only between a parent and its
// child, so a session goes old worker → old primary → new primary → new worker (handover-relay-protocol.ts).
import type { ChildProcess } from "node:child_process";
import type { Logger } from "../observability/logger.js";
import { RelayHub, type LaneEnd } from "./handover-relay-hub.js";
import { parentEnd, type IpcEnd } from "./handover-relay-port.js";

export interface OldPrimaryRelayOptions {
  /** The old workers' processes (`worker.process` of each cluster worker): each hands over on a lane of its own. */
  workers: readonly ChildProcess[];
  /** The new primary, started with an IPC channel. */
  successor: ChildProcess;
  log: Logger;
  onLaneEnd?: (end: LaneEnd) => void;
}

/** In the old primary: every lane an old worker opens goes to the successor, and its answers back to that worker. */
export function relayFromOldPrimary(options: OldPrimaryRelayOptions): RelayHub {
  const { successor } = options;
  const hub = new RelayHub({
    log: options.log,
    route: () => ({ end: successor as IpcEnd, child: successor, name: "new primary" }),
    ...(options.onLaneEnd === undefined ? {} : { onLaneEnd: options.onLaneEnd }),
  });
  for (const worker of options.workers) hub.addOrigin(worker as IpcEnd, `old worker ${worker.pid ?? "?"}`, worker);
  return hub;
}

export interface NewPrimaryRelayOptions {
  /** The new workers' processes, in a stable order (by cluster worker id): lane k goes to the (k mod n)-th. */
  workers: () => readonly ChildProcess[];
  /** Overrides the k mod n choice: the process to take lane k, or undefined for none. */
  route?: (lane: number) => ChildProcess | undefined;
  /** The old primary's channel; default this process's (`process`). */
  predecessor?: IpcEnd;
  log: Logger;
  onLaneEnd?: (end: LaneEnd) => void;
}

/** In the new primary: each lane from the old primary goes to one new worker, and its answers back. */
export function relayIntoNewPrimary(options: NewPrimaryRelayOptions): RelayHub {
  const choose =
    options.route ??
    ((lane: number): ChildProcess | undefined => {
      const workers = options.workers().filter((worker) => worker.connected);
      if (workers.length === 0) return undefined;
      return workers[((lane % workers.length) + workers.length) % workers.length];
    });
  const hub = new RelayHub({
    log: options.log,
    route: (lane) => {
      const worker = choose(lane);
      return worker === undefined
        ? undefined
        : { end: worker as IpcEnd, child: worker, name: `new worker ${worker.pid ?? "?"}` };
    },
    ...(options.onLaneEnd === undefined ? {} : { onLaneEnd: options.onLaneEnd }),
  });
  hub.addOrigin(options.predecessor ?? parentEnd(), "old primary");
  return hub;
}
