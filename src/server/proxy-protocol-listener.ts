// A listener's front for `proxyProtocol: true`: each connection must come from a trusted proxy and start with a
// PROXY header, which is read and taken off before Node's HTTP (or TLS) server sees the first byte.
import { ignoreStreamError as ignoreSocketError } from "../util/net/ignore-error.js";
import net, { type Socket } from "node:net";
import { LinkedSet } from "../util/linked-set.js";
import { peerAddress, type AddressSet } from "../util/net/ip-address.js";
import { parseProxyHeader } from "../util/net/proxy-protocol.js";
import { recordProxiedPeer } from "../util/net/proxied-peer.js";

export interface ProxyProtocolFrontOptions {
  /** Peers allowed to send PROXY headers; read on each connection, so a reload applies to the next one. */
  trusted: () => AddressSet;
  /** How long a connection may take to send its whole PROXY header (ms). */
  headerTimeout: number;
  /** A connection whose header was read: its remaining bytes are unread on it. */
  accepted: (socket: Socket) => void;
  /** A connection closed before its header was read, and why (for debug logs). */
  refused: (socket: Socket, reason: string) => void;
}

/** A connection whose PROXY header is still awaited. */
class PendingConnection {
  constructor(readonly socket: Socket) {}
}

/**
 * The listening server in front of the HTTP server: accepts, checks the peer, reads the header within the deadline,
 * and hands the socket over with the bytes after the header put back. Anything else closes the connection.
 */
export class ProxyProtocolFront {
  readonly server: net.Server;
  /**
   * Connections whose header is still awaited, so that closing the listener can end them. A LinkedSet, not a
   * Set<Socket>: a long-lived Set that gains and loses a member per connection replaces its table every few
   * connections, and a replaced table that reached the old generation keeps the sockets of later tables alive
   * through scavenges (promoted with all they hold), as the upgrade front's Map did (see upgrade-front.ts).
   */
  private readonly pending = new LinkedSet<PendingConnection>();

  constructor(private readonly options: ProxyProtocolFrontOptions) {
    this.server = net.createServer({ noDelay: true }, this.onConnection);
  }

  /** Ends the connections still sending their header. */
  destroyPending(): void {
    for (const entry of this.pending) {
      this.pending.delete(entry);
      entry.socket.destroy();
    }
  }

  private readonly onConnection = (socket: Socket): void => {
    socket.on("error", ignoreSocketError);
    const peer = peerAddress(socket.remoteAddress);
    if (!this.options.trusted().has(peer)) {
      this.refuse(socket, "PROXY protocol from an untrusted peer");
      return;
    }
    const entry = new PendingConnection(socket);
    this.pending.add(entry);
    let received: Buffer | undefined;
    const timer = setTimeout(() => {
      done();
      this.refuse(socket, "PROXY header took too long");
    }, this.options.headerTimeout);
    const done = (): void => {
      clearTimeout(timer);
      this.pending.delete(entry);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onClose);
    };
    const onData = (chunk: Buffer): void => {
      received = received === undefined ? chunk : Buffer.concat([received, chunk]);
      const verdict = parseProxyHeader(received);
      if (verdict.kind === "incomplete") return;
      done();
      if (verdict.kind === "invalid") {
        this.refuse(socket, verdict.reason);
        return;
      }
      socket.pause();
      const rest = received.subarray(verdict.header.length);
      if (rest.length > 0) socket.unshift(rest);
      recordProxiedPeer(socket, verdict.header);
      this.options.accepted(socket);
    };
    const onEnd = (): void => {
      done();
      this.refuse(socket, "connection ended before its PROXY header");
    };
    const onClose = (): void => done();
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onClose);
  };

  /** Closes a connection that is not (or no longer) pending. */
  private refuse(socket: Socket, reason: string): void {
    this.options.refused(socket, reason);
    socket.destroy();
  }
}
