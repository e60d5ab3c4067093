import type { Listener } from "../gateway.js";
import { endpointText, peerAddress } from "../util/net/ip-address.js";
import type { ListenerView } from "./control.js";

/** A listener as status views show it: no IPv4-mapped prefix, and its endpoint as one writes it. */
export function listenerView(listener: Listener): ListenerView {
  const { address, port } = listener.address;
  return { server: listener.server, address: peerAddress(address), port, endpoint: endpointText(address, port) };
}
