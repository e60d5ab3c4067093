import { isIP } from "node:net";

/** Where the admin API listens: a host and port, or nowhere. */
export type AdminAddress = { host: string; port: number } | "off";

export const DEFAULT_ADMIN_ADDRESS = "127.0.0.1:2381";

/** "HOST:PORT", "[::1]:PORT" or "off"; throws with a message fit for users. */
export function parseAdminAddress(text: string): AdminAddress {
  if (text === "off") return "off";
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port > 65535) {
    throw new Error(`admin address '${text}' is not HOST:PORT (e.g. 127.0.0.1:2381, [::1]:2381) or 'off'`);
  }
  return { host, port };
}

/** Only these hosts may serve the admin API without a token: nothing else on the network can reach them. */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}
