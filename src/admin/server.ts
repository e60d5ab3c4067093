import { readFileSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type net from "node:net";
import type { InheritedListener } from "../server/http-server.js";
import type { AddressInfo } from "node:net";
import type { GatewayControl } from "../control/control.js";
import { API_ERRORS, ApiError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { isLoopback } from "../util/net/admin-address.js";
import { checkBearer } from "./auth.js";
import { AdminRequestGuard, checkContentType } from "./request-guard.js";
import { ObjectsApi } from "./objects-api.js";
import { send, wantsYaml, type AdminHandler, type AdminListenerView } from "./response.js";
import { Router } from "./router.js";
import { closeSession, listSessions } from "./sessions-api.js";
import { drainServer } from "./servers-api.js";
import { upgradeProcess } from "./upgrade-api.js";
import type { UpgradeOutcome } from "../control/upgrade-protocol.js";
import type { ClusterAccess } from "./cluster-access.js";
import { clusterSessionsRoute, listMembersRoute } from "./cluster-api.js";
import type { MemberSource } from "./members.js";
import { gatewayStatus, metrics, objectKinds, objectStatus } from "./status-api.js";
import { PROBE_PATHS, healthz, readyz } from "./probes.js";
import { Dashboard } from "./dashboard/dashboard.js";
import type { ConfigChangeRing } from "./dashboard/config-changes.js";

export interface AdminServerOptions {
  host: string;
  port: number;
  /** Required for any address but loopback. */
  token?: string;
  tls?: { certFile: string; keyFile: string };
  /** More names `Host` may give (`adminAllowedHosts`, `--admin-host`): `NAME` or `NAME:PORT`. */
  allowedHosts?: readonly string[];
  /** The last config changes, for the dashboard (see recordConfigChanges). */
  configChanges?: ConfigChangeRing;
}

/** The admin listener refuses to start: a setting that would expose it, or a file it cannot read. */
export class AdminConfigError extends Error {}

function routes(): Router<AdminHandler> {
  const objects = new ObjectsApi();
  return new Router<AdminHandler>()
    .add("GET", "/apis/v2/objects", objects.list)
    .add("POST", "/apis/v2/objects", objects.create)
    .add("GET", "/apis/v2/objects/:name", objects.get)
    .add("PUT", "/apis/v2/objects/:name", objects.update)
    .add("DELETE", "/apis/v2/objects/:name", objects.delete)
    .add("GET", "/apis/v2/status/objects", gatewayStatus)
    .add("GET", "/apis/v2/status/objects/:name", objectStatus)
    .add("GET", "/apis/v2/object-kinds", objectKinds)
    .add("GET", "/apis/v2/sessions", listSessions)
    .add("DELETE", "/apis/v2/sessions/:id", closeSession)
    .add("POST", "/apis/v2/servers/drain", drainServer)
    .add("POST", "/apis/v2/upgrade", upgradeProcess)
    .add("GET", "/apis/v2/members", listMembersRoute)
    .add("GET", "/apis/v2/cluster/sessions", clusterSessionsRoute)
    .add("GET", "/metrics", metrics)
    .add("GET", "/healthz", healthz)
    .add("GET", "/readyz", readyz);
}

/** The error answer: `{error, code, errors}`; errors are config errors placed at file, line and column. */
function errorAnswer(error: unknown): { status: number; body: object; headers?: Record<string, string> } {
  if (error instanceof ApiError) {
    return {
      status: error.status,
      body: { error: error.message, code: error.code, errors: error.errors },
      headers: { ...error.headers },
    };
  }
  return {
    status: API_ERRORS.WSG_INTERNAL.status,
    body: { error: (error as Error).message ?? String(error), code: "WSG_INTERNAL", errors: [] },
  };
}

/** The admin API's own listener: never a traffic port, loopback unless a token guards it, HTTPS when asked. */
export class AdminServer {
  private readonly server: http.Server;
  private readonly router = routes();
  private readonly cluster: ClusterAccess | undefined;
  /** Set once listening: the names this listener answers to depend on where it bound. */
  private guard: AdminRequestGuard | undefined;
  private view: AdminListenerView;
  private readonly dashboard: Dashboard;
  private upgrade: (() => Promise<UpgradeOutcome>) | undefined;

  /** `members`: the cluster this gateway is a member of (`--store etcd://...`); without it the cluster views 404. */
  constructor(
    private readonly options: AdminServerOptions,
    private readonly control: GatewayControl,
    private readonly log: Logger,
    members?: MemberSource,
  ) {
    this.cluster =
      members === undefined
        ? undefined
        : {
            members,
            peers: {
              scheme: options.tls === undefined ? "http" : "https",
              ...(options.token === undefined ? {} : { token: options.token }),
            },
          };
    if (options.token === undefined && !isLoopback(options.host)) {
      throw new AdminConfigError(
        `refusing to serve the admin API on ${options.host} without a token: use a loopback address ` +
          `(127.0.0.1, ::1), or set --admin-token / WSGATE_ADMIN_TOKEN`,
      );
    }
    this.dashboard = new Dashboard(control, options.configChanges, members);
    this.view = {
      tokenConfigured: options.token !== undefined,
      addresses: [{ host: options.host, port: options.port }],
    };
    const handle = (request: IncomingMessage, response: ServerResponse): void => void this.handle(request, response);
    this.server =
      options.tls === undefined ? http.createServer(handle) : https.createServer(readTls(options.tls), handle);
    // Slow or idle admin clients must not hold sockets forever.
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
  }

  /** The listening socket, for handing it to a successor process (`wsgate upgrade`). */
  get listeningSocket(): net.Server {
    return this.server;
  }

  /** Binds, or with `inherited` (a predecessor's admin socket) accepts on that socket instead. */
  listen(inherited?: InheritedListener): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      const listening = (): void => {
        this.server.off("error", reject);
        const address = this.server.address() as AddressInfo;
        this.guard = new AdminRequestGuard({
          scheme: this.options.tls === undefined ? "http" : "https",
          boundHost: address.address,
          port: address.port,
          configuredHost: this.options.host,
          allowedHosts: this.options.allowedHosts ?? [],
        });
        this.view = {
          ...this.view,
          addresses: [
            { host: this.options.host, port: address.port },
            { host: address.address, port: address.port },
          ],
        };
        const tls = this.options.tls !== undefined;
        const auth = this.options.token !== undefined;
        this.log.info({ address: address.address, port: address.port, tls, auth }, "admin listening");
        inherited?.adopted(this.server);
        resolve(address);
      };
      if (inherited !== undefined) this.server.listen(inherited.socket, listening);
      else this.server.listen(this.options.port, this.options.host, listening);
    });
  }

  /** Where it listens, once it does. */
  get address(): AddressInfo | undefined {
    return (this.server.address() as AddressInfo | null) ?? undefined;
  }

  /** `POST /apis/v2/upgrade` runs `upgrade`; without it the answer says this process cannot be upgraded in place. */
  serveUpgrades(upgrade: () => Promise<UpgradeOutcome>): void {
    this.upgrade = upgrade;
  }

  /** Handed over to a successor: no new connection here; requests under way are answered (with Connection: close). */
  stopAccepting(): void {
    this.server.close();
  }

  close(): Promise<void> {
    this.dashboard.stop();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://admin");
    const yaml = wantsYaml(request, url.searchParams);
    try {
      // Who may ask, before what is asked: the listener's own name and origin, then the token.
      const guard = this.guard;
      if (guard === undefined) throw new Error("the admin API is not listening yet");
      guard.checkOrigin(request, guard.checkHost(request));
      // The dashboard's page asks for the token itself; its stream is behind the token.
      if (this.dashboard.servePage(request, response, url)) return;
      // Probes need no token (a kubelet has none); they still name this listener, and tell nothing internal.
      if (!PROBE_PATHS.has(url.pathname)) checkBearer(request, this.options.token);
      if (this.dashboard.serveStream(request, response, url)) return;
      const { handler, params } = this.router.find(request.method ?? "GET", url.pathname);
      checkContentType(request);
      const answer = await handler({
        request,
        params,
        query: url.searchParams,
        control: this.control,
        listener: this.view,
        ...(this.cluster === undefined ? {} : { cluster: this.cluster }),
        ...(this.upgrade === undefined ? {} : { upgrade: this.upgrade }),
      });
      send(response, answer, yaml);
    } catch (error) {
      const answer = errorAnswer(error);
      const level = answer.status >= 500 ? "error" : "debug";
      this.log[level](
        { method: request.method, path: url.pathname, status: answer.status, error: (error as Error).message },
        "admin request failed",
      );
      if (response.headersSent) {
        response.destroy();
        return;
      }
      // An unread body (a refused upload) would otherwise stall the next request on this connection.
      if (answer.status === 413 || answer.status === 401 || !request.complete)
        response.setHeader("Connection", "close");
      send(response, answer, yaml);
    }
  }
}

function readTls(tls: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
  } catch (error) {
    throw new AdminConfigError(`cannot read the admin TLS files: ${(error as Error).message}`);
  }
}
