// A successor primary's share of `wsgate upgrade` with workers: the raw listening handles its predecessor sends (one
// per HTTPServer, upgrade-primary.ts) are kept here, never accepted on, and their fds given to the workers, which
// listen on `{ fd }` (node:cluster shares the fd). The admin API's socket and the steps go through the Predecessor.
import { upgradeMessage } from "../control/upgrade-protocol.js";
import type { ClusterListenerMessage, SharedListenerFd } from "./protocol.js";

/** What a raw TCP handle received as 'net.Native' shows: its descriptor. */
interface RawListeningHandle {
  readonly fd: number;
}

function isRawHandle(handle: unknown): handle is RawListeningHandle {
  return typeof handle === "object" && handle !== null && typeof (handle as RawListeningHandle).fd === "number";
}

export class PredecessorHandles {
  /**
   * Held for the life of this process: node:cluster opens its own handle on the same fd for the workers and closes
   * the fd when they all stop listening; closing this one as well would close an fd number that may be reused.
   */
  private readonly held: Array<{ message: ClusterListenerMessage; handle: RawListeningHandle }> = [];

  /** Listens on `process` before the predecessor is asked for its sockets. */
  constructor() {
    process.on("message", this.onMessage);
  }

  /** The sockets as the workers listen on them; stops listening for more. */
  shared(): SharedListenerFd[] {
    process.off("message", this.onMessage);
    return this.held.map(({ message, handle }) => ({
      server: message.server,
      address: message.address,
      port: message.port,
      boundPort: message.boundPort,
      boundAddress: message.boundAddress,
      family: message.family,
      fd: handle.fd,
    }));
  }

  private readonly onMessage = (value: unknown, handle: unknown): void => {
    const message = upgradeMessage(value);
    if (message?.wsgateUpgrade !== "listener" || message.role !== "server" || !isRawHandle(handle)) return;
    const cluster = message as ClusterListenerMessage;
    if (typeof cluster.boundAddress !== "string" || typeof cluster.family !== "string" || handle.fd < 0) return;
    this.held.push({ message: cluster, handle });
  };
}
