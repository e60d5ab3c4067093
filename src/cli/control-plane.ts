import type { AddressInfo } from "node:net";
import { AdminServer, type AdminServerOptions } from "../admin/server.js";
import type { GatewayConfig } from "../config/load.js";
import { LocalControl } from "../control/local-control.js";
import { MemoryObjectStore } from "../control/memory-store.js";
import type { ObjectStore } from "../control/object-store.js";
import type { Gateway } from "../gateway.js";
import type { Logger } from "../observability/logger.js";

/** The store, the control that applies its changes to the gateway, and the admin listener (unless off). */
export interface ControlPlane {
  /** A file reload calls `store.replaceAll(config.objects)`; the control then applies the new set. */
  store: ObjectStore;
  control: LocalControl;
  admin?: { server: AdminServer; address: AddressInfo };
  close(): Promise<void>;
}

/** Wires a started gateway to its objects and, unless `admin` is "off", serves the admin API. */
export async function startControlPlane(
  gateway: Gateway,
  config: GatewayConfig,
  log: Logger,
  admin: AdminServerOptions | "off",
): Promise<ControlPlane> {
  const store = new MemoryObjectStore(config.objects);
  const control = new LocalControl(store, gateway, log, config.gateway ? { startSettings: config.gateway } : {});
  const close = async (server?: AdminServer): Promise<void> => {
    await server?.close();
    await store.close();
  };
  if (admin === "off") return { store, control, close: () => close() };
  const server = new AdminServer(admin, control, log);
  const address = await server.listen();
  return { store, control, admin: { server, address }, close: () => close(server) };
}
