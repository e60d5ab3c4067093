import type { IncomingMessage } from "node:http";

/** Strips the IPv4-mapped prefix so that 127.0.0.1 reads as such in logs and hashes. */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return "";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/**
 * The client's address: the socket's peer, or, when the server is told to trust an L7 balancer in front of it,
 * the first X-Forwarded-For entry.
 */
export function clientIpOf(req: IncomingMessage, trustForwardedFor: boolean): string {
  if (trustForwardedFor) {
    const forwarded = req.headers["x-forwarded-for"];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
    if (first !== undefined && first.length > 0) return first;
  }
  return plainAddress(req.socket.remoteAddress);
}
