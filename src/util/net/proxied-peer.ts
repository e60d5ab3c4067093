// What the PROXY header of each accepted connection said, kept beside the socket for whoever later asks who the
// client is (util/http/client-ip.ts) or names it to a backend. The listener's front writes it; nothing else does.
import type { ProxyHeader } from "./proxy-protocol.js";

/** What the PROXY header of each accepted connection said; the raw socket is the key. */
const proxiedPeers = new WeakMap<object, ProxyHeader>();

/** A TLS socket wraps the raw one it was made from (`_parent`, as Node's tls.Server sets it). */
function rawSocketOf(socket: object): object {
  const parent = (socket as { _parent?: unknown })._parent;
  return typeof parent === "object" && parent !== null ? parent : socket;
}

/** The PROXY header a connection came with, when its listener takes them; the TLS socket or the raw one. */
export function proxiedPeerOf(socket: object): ProxyHeader | undefined {
  return proxiedPeers.get(socket) ?? proxiedPeers.get(rawSocketOf(socket));
}

/** Records the header a connection came with (the PROXY protocol front, as it hands the socket over). */
export function recordProxiedPeer(socket: object, header: ProxyHeader): void {
  proxiedPeers.set(socket, header);
}
