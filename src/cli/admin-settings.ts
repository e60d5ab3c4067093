import type { AddressInfo } from "node:net";
import { DEFAULT_ADMIN_ADDRESS, HOST_AUTHORITY, isLoopback, parseAdminAddress } from "../util/net/admin-address.js";
import type { AdminServerOptions } from "../admin/server.js";
import type { ListenerAddress, ValidationOptions } from "../config/admin-targets.js";
import type { GatewaySpec } from "../config/kinds/gateway.js";

export interface AdminFlags {
  address?: string;
  token?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** `--admin-host NAME[:PORT]`, repeatable: more names `Host` may give. */
  hosts?: string[];
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
  const allowedHosts = flags.hosts ?? spec?.adminAllowedHosts ?? [];
  const malformed = allowedHosts.find((host) => !HOST_AUTHORITY.test(host));
  if (malformed !== undefined) throw new Error(`--admin-host '${malformed}' is not NAME or NAME:PORT`);
  return {
    ...address,
    ...(token === undefined ? {} : { token }),
    ...(tls === undefined ? {} : { tls }),
    ...(allowedHosts.length === 0 ? {} : { allowedHosts }),
  };
}

/**
 * What validation of files must keep clear of: the `--admin-address` flag's listener when given (none when `off`);
 * otherwise validation reads the Gateway object's `adminAddress`. A broken flag is adminSettings' to report.
 */
export function adminValidation(flagAddress: string | undefined): ValidationOptions {
  if (flagAddress === undefined) return {};
  try {
    const address = parseAdminAddress(flagAddress);
    return { adminListeners: address === "off" ? [] : [address] };
  } catch {
    return {};
  }
}

/** The running admin listener as validation sees it: its configured host and its bound address, at the bound port. */
export function runningAdmin(admin: AdminServerOptions | "off", bound: AddressInfo | undefined): ValidationOptions {
  if (admin === "off") return { adminListeners: [] };
  const port = bound?.port ?? admin.port;
  const listeners: ListenerAddress[] = [{ host: admin.host, port }];
  if (bound !== undefined) listeners.push({ host: bound.address, port });
  return { adminListeners: listeners };
}
