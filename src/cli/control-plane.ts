import type { AddressInfo } from "node:net";
import type { MemberSource } from "../admin/members.js";
import { AdminServer, type AdminServerOptions } from "../admin/server.js";
import type { GatewayConfig } from "../config/load.js";
import { LocalControl } from "../control/local-control.js";
import { MemoryObjectStore } from "../control/memory-store.js";
import type { ObjectStore } from "../control/object-store.js";
import type { ObjectSources } from "../control/object-sources.js";
import type { Gateway } from "../gateway.js";
import type { Logger } from "../observability/logger.js";
import type { InheritedListener } from "../server/http-server.js";
import { runningAdmin } from "./admin-settings.js";

/** The store, the control that applies its changes to the gateway, and the admin listener (unless off). */
export interface ControlPlane {
  /** A file reload calls `store.replaceAll(config.objects)`; the control then applies the new set. */
  store: ObjectStore;
  control: LocalControl;
  admin?: { server: AdminServer; address: AddressInfo };
  /** Closes the admin API, then the store. */
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  /**
   * Where the objects live (a cluster store, already open, whose objects `config` was validated from); the plane
   * closes it. Default: a memory store holding `config.objects` (the files).
   */
  store?: ObjectStore;
  /** The cluster's member list, for `GET /apis/v2/members` and the cluster views. */
  members?: MemberSource;
  /** A gateway run from files: where each object comes from, and where the admin API's are saved. */
  sources?: ObjectSources;
  /** The admin socket of the process this one replaces (`wsgate upgrade`), to accept on instead of binding. */
  adminSocket?: InheritedListener | undefined;
}

/** Wires a started gateway to its objects and, unless `admin` is "off", serves the admin API. */
export async function startControlPlane(
  gateway: Gateway,
  config: GatewayConfig,
  log: Logger,
  admin: AdminServerOptions | "off",
  options: ControlPlaneOptions = {},
): Promise<ControlPlane> {
  const store = options.store ?? new MemoryObjectStore(config.objects);
  // Known once the admin API has bound (its port may be 0 until then).
  let bound: AddressInfo | undefined;
  const control = new LocalControl(store, gateway, log, {
    validation: () => runningAdmin(admin, bound),
    ...(config.gateway ? { startSettings: config.gateway } : {}),
    ...(options.sources === undefined ? {} : { sources: options.sources }),
    // A cluster store keeps watching while the gateway starts: whatever changed meanwhile is applied now.
    ...(options.store === undefined ? {} : { running: config.objects }),
  });
  const close = async (server?: AdminServer): Promise<void> => {
    await server?.close();
    await store.close();
  };
  if (admin === "off") return { store, control, close: () => close() };
  let server: AdminServer;
  let address: AddressInfo;
  try {
    server = new AdminServer(admin, control, log, options.members);
    address = await server.listen(options.adminSocket);
    bound = address;
  } catch (error) {
    await store.close();
    throw error;
  }
  return { store, control, admin: { server, address }, close: () => close(server) };
}
