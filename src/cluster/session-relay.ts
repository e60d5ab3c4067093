// Where the sessions go in `wsgate upgrade` with workers: each old worker hands its sessions over on a channel that
// its primary relays to the successor primary, which relays them to one of its workers (handover-relay*.ts). The
// upgrade's orchestration only knows these two seams, so that plugging the relay in is one change.
import type { Worker } from "node:cluster";
import type { ChildProcess } from "node:child_process";
import type { HandoverChannel } from "../proxy/handover-types.js";

/** An old worker's side: the channel its `Gateway.handOverSessions` writes to; undefined when there is no relay. */
export interface WorkerSessionRelay {
  open(): HandoverChannel | undefined;
}

/** A primary's side: forwards the sessions between its workers and the other primary until stopped. */
export interface PrimarySessionRelay {
  /** Old primary: worker k ⇄ the successor it started. */
  forwardToSuccessor?(workers: readonly Worker[], successor: ChildProcess): { stop(): void };
  /** New primary: its predecessor (`process`) ⇄ worker k mod n. */
  forwardFromPredecessor?(workers: readonly Worker[]): { stop(): void };
}

/** No relay: the sessions stay in the old workers, which serve them until they end or the drain timeout. */
export const NO_WORKER_RELAY: WorkerSessionRelay = { open: () => undefined };
export const NO_PRIMARY_RELAY: PrimarySessionRelay = {};
