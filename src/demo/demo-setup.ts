// `wsgate demo`: the bundled example with its two echo backends, on the ports it names when they are free and on
// free ports the system picks when they are taken (8080 is rarely free on a developer's machine).
import { readFile } from "node:fs/promises";
import { DEFAULT_ADMIN_ADDRESS, parseAdminAddress } from "../util/net/admin-address.js";
import { loadConfigText, type ConfigLoadResult } from "../config/load.js";
import { startEchoBackend, type EchoBackend } from "./echo-backend.js";
import { freePortPreferring } from "./ports.js";

/** The ports examples/demo.yaml names: the gateway's, then the two echo backends'. */
export const DEMO_GATEWAY_PORT = 8080;
export const DEMO_BACKEND_PORTS = [9095, 9096] as const;

export interface DemoPorts {
  gateway: number;
  backends: readonly EchoBackend[];
}

/** The two echo backends, on 9095 and 9096 or, each when taken, on a free port. */
export async function startDemoBackends(): Promise<EchoBackend[]> {
  const backends: EchoBackend[] = [];
  try {
    for (const [index, port] of DEMO_BACKEND_PORTS.entries()) {
      backends.push(await startEchoBackend(`echo-${index + 1}`, port));
    }
  } catch (error) {
    await Promise.all(backends.map((backend) => backend.close()));
    throw error;
  }
  return backends;
}

/** The gateway's port: `--port` as given, else 8080 when free on `host`, else a free one. */
export function demoGatewayPort(host: string, flag: string | undefined): Promise<number> {
  if (flag === undefined) return freePortPreferring(host, DEMO_GATEWAY_PORT);
  const port = Number(flag);
  if (!/^\d+$/.test(flag) || port < 1 || port > 65535) throw new Error(`--port '${flag}' is not a port (1-65535)`);
  return Promise.resolve(port);
}

/** Where the demo's admin API listens when no flag says: 127.0.0.1:2381, or a free port when that is taken. */
export async function demoAdminAddress(): Promise<string> {
  const preferred = parseAdminAddress(DEFAULT_ADMIN_ADDRESS);
  if (preferred === "off") return DEFAULT_ADMIN_ADDRESS;
  return `${preferred.host}:${await freePortPreferring(preferred.host, preferred.port)}`;
}

/** examples/demo.yaml with the ports the demo got in place of the ones it names (lines and errors unchanged). */
export async function loadDemoConfig(file: string, ports: DemoPorts): Promise<ConfigLoadResult> {
  let text = (await readFile(file, "utf8")).replace(
    new RegExp(`^port: ${DEMO_GATEWAY_PORT}$`, "m"),
    `port: ${ports.gateway}`,
  );
  for (const [index, named] of DEMO_BACKEND_PORTS.entries()) {
    const port = ports.backends[index]?.port ?? named;
    text = text.replaceAll(`ws://127.0.0.1:${named}`, `ws://127.0.0.1:${port}`);
  }
  return loadConfigText(text, file);
}
