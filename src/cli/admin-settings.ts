import { DEFAULT_ADMIN_ADDRESS, isLoopback, parseAdminAddress } from "../admin/address.js";
import type { AdminServerOptions } from "../admin/server.js";
import type { GatewaySpec } from "../config/kinds/gateway.js";

export interface AdminFlags {
  address?: string;
  token?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** The admin listener's settings: flags, then WSGATE_ADMIN_TOKEN for the token, then the Gateway object. */
export function adminSettings(
  flags: AdminFlags,
  spec: GatewaySpec | undefined,
  env: NodeJS.ProcessEnv = process.env,
): AdminServerOptions | "off" {
  const address = parseAdminAddress(flags.address ?? spec?.adminAddress ?? DEFAULT_ADMIN_ADDRESS);
  if (address === "off") return "off";
  const token = flags.token ?? (env["WSGATE_ADMIN_TOKEN"] || undefined) ?? spec?.adminToken;
  if (token !== undefined && token.length < 16) throw new Error("the admin token must have at least 16 characters");
  if (token === undefined && !isLoopback(address.host)) {
    throw new Error(
      `refusing to serve the admin API on ${address.host} without a token: use a loopback address ` +
        `(127.0.0.1, ::1) or set --admin-token / WSGATE_ADMIN_TOKEN`,
    );
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new Error("--admin-tls-cert and --admin-tls-key go together");
  }
  const tls =
    flags.tlsCert !== undefined && flags.tlsKey !== undefined
      ? { certFile: flags.tlsCert, keyFile: flags.tlsKey }
      : spec?.adminTls;
  return { ...address, ...(token === undefined ? {} : { token }), ...(tls === undefined ? {} : { tls }) };
}
