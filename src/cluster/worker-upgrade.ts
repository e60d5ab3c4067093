// A worker's part in `wsgate upgrade` with workers (the primary's is upgrade-primary.ts): send its listening handles,
// stop accepting and hand its sessions over, accept again when the upgrade fails, drain what stayed and exit.
import type { Gateway } from "../gateway.js";
import type { Logger } from "../observability/logger.js";
import { emptyHandOverReport, type HandoverChannel, type HandOverReport } from "../proxy/handover-types.js";
import type { InheritedListeners } from "../gateway.js";
import type { SharedFdListener } from "../server/http-server.js";
import type { HTTPServerSpec } from "../server/spec.js";
import type { SharedListenerFd, UpgradeReply, UpgradeRequest } from "./protocol.js";
import { rawHandleOf } from "./handover-relay-port.js";

/** How often a draining worker looks whether what stayed has ended. */
const DRAIN_POLL_MS = 100;
/** After the upgrade drain timeout, how long the sessions left get to close (1001) before they are cut. */
const FINAL_CLOSE_MS = 2_000;

/** Where this worker's sessions go: its lane of the session relay (handover-relay-worker.ts). */
export interface WorkerSessionRelay {
  open(): HandoverChannel;
}

export interface WorkerUpgradeHost {
  gateway(): Gateway | undefined;
  /** The sockets the primary holds, which this worker's servers listen on as `{ fd }`. */
  shared: SharedListeners;
  log: Logger;
  /** Sends to the primary, with a handle when given. */
  send(message: UpgradeReply, handle?: object): Promise<void>;
  /** Stops the worker (sessions closed with 1001 within `drainMs`) and exits. */
  stop(drainMs: number, why: string): void;
}

export class WorkerUpgrade {
  constructor(
    private readonly host: WorkerUpgradeHost,
    private readonly relay: WorkerSessionRelay,
  ) {}

  handle(message: UpgradeRequest): void {
    switch (message.type) {
      case "listenerHandles":
        void this.sendHandles(message.reqId, message.handles);
        return;
      case "upgradeHandOver":
        void this.handOver(message.settleMs).then(async (report) => {
          // Taken once the sessions are handed over: what the moved ones relayed goes on in their new worker.
          const counters = await this.host
            .gateway()
            ?.telemetry.metrics.counterSnapshot()
            .catch(() => undefined);
          await this.host.send({
            type: "handedOver",
            reqId: message.reqId,
            report,
            ...(counters === undefined ? {} : { counters }),
          });
        });
        return;
      case "upgradeAcceptAgain":
        this.host.shared.update(message.sharedListeners);
        void this.acceptAgain().then((error) =>
          this.host.send({ type: "acceptingAgain", reqId: message.reqId, ...(error === undefined ? {} : { error }) }),
        );
        return;
      case "upgradeDrain":
        void this.drain(message.drainMs);
        return;
    }
  }

  private async sendHandles(reqId: number, handles: boolean): Promise<void> {
    let count = 0;
    const gateway = this.host.gateway();
    for (const { spec, address, socket } of handles ? (gateway?.listeningSockets() ?? []) : []) {
      const handle = rawHandleOf(socket);
      if (handle === undefined) continue;
      await this.host.send(
        {
          type: "listenerHandle",
          reqId,
          listener: {
            wsgateUpgrade: "listener",
            role: "server",
            server: spec.name,
            address: spec.address,
            port: spec.port,
            boundPort: address.port,
            boundAddress: address.address,
            family: address.family,
          },
        },
        handle,
      );
      count++;
    }
    const firstSessionId = gateway?.sessionIdsForSuccessor() ?? 1;
    await this.host.send({ type: "listenerHandlesSent", reqId, count, firstSessionId });
  }

  /** Stops accepting (the new workers accept on the same sockets), then hands the sessions over on the relay. */
  private async handOver(settleMs: number): Promise<HandOverReport> {
    const gateway = this.host.gateway();
    if (gateway === undefined) return emptyHandOverReport();
    await gateway.stopAccepting();
    return gateway.handOverSessions(this.relay.open(), { settleMs });
  }

  private async acceptAgain(): Promise<string | undefined> {
    try {
      await this.host.gateway()?.acceptAgain();
      return undefined;
    } catch (error) {
      this.host.log.error({ err: (error as Error).message }, "upgrade failed: cannot listen again");
      return (error as Error).message;
    }
  }

  /** What stayed here serves on until it ends (and no connection is left), or `drainMs`; then the worker stops. */
  private async drain(drainMs: number): Promise<void> {
    const gateway = this.host.gateway();
    const until = performance.now() + drainMs;
    while (gateway !== undefined && performance.now() < until) {
      if (gateway.sessions.size === 0 && (await openConnections(gateway)) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    const left = gateway?.sessions.size ?? 0;
    this.host.log.info(
      { event: "upgrade_drained", pid: process.pid, closed: left, drainMs },
      left === 0
        ? "the sessions kept here have ended: exiting"
        : `drain timeout: closing ${left} kept sessions with 1001`,
    );
    this.host.stop(FINAL_CLOSE_MS, "upgrade drained");
  }
}

async function openConnections(gateway: Gateway): Promise<number> {
  const counts = await Promise.all(
    gateway
      .listeningSockets()
      .map(
        ({ socket }) =>
          new Promise<number>((resolve) =>
            socket.getConnections((error, count) => resolve(error === null ? count : 0)),
          ),
      ),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

/**
 * The sockets the primary holds for this worker (`wsgate upgrade` made it a successor): a server listening where one
 * of them was listens on its fd. Each apply brings the list; taking does not use one up (every worker, and a
 * replaced one, listens on the same fd).
 */
export class SharedListeners implements InheritedListeners {
  private fds: readonly SharedListenerFd[] = [];

  update(fds: readonly SharedListenerFd[] | undefined): void {
    this.fds = fds ?? [];
  }

  take(spec: HTTPServerSpec): SharedFdListener | undefined {
    const shared = this.fds.find(
      ({ server, address, port, boundPort }) =>
        address === spec.address && (spec.port === 0 ? port === 0 && server === spec.name : spec.port === boundPort),
    );
    if (shared === undefined) return undefined;
    return {
      fd: shared.fd,
      address: { address: shared.boundAddress, family: shared.family, port: shared.boundPort },
    };
  }
}
