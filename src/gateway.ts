import type { AddressInfo } from "node:net";
import type { GatewayConfig } from "./config/load.js";
import { filterFactories } from "./filters/factories.js";
import type { FilterSpec } from "./filters/registry.js";
import type { Logger } from "./observability/logger.js";
import { SessionRegistry } from "./observability/sessions.js";
import type { Filter, FilterDeps, FilterFactory } from "./pipeline/filter.js";
import { Pipeline } from "./pipeline/pipeline.js";
import { GatewayHttpServer } from "./server/http-server.js";
import { CloseCode } from "./websocket/protocol.js";

export interface Listener {
  server: string;
  address: AddressInfo;
  /** Paths of the server's rules, for telling users where to connect. */
  paths: string[];
}

function createFilter(spec: FilterSpec, deps: FilterDeps): Filter {
  // The table is keyed by kind, so the factory found always takes this spec.
  const factory = filterFactories[spec.kind] as FilterFactory<FilterSpec>;
  return factory.create(spec, deps);
}

/** The running gateway: its servers, their pipelines, and every live WebSocket session. */
export class Gateway {
  readonly sessions = new SessionRegistry();
  private readonly pipelines = new Map<string, Pipeline>();
  private readonly servers: GatewayHttpServer[] = [];
  private readonly listeners: Listener[] = [];

  private constructor(
    private readonly config: GatewayConfig,
    private readonly log: Logger,
  ) {
    for (const spec of config.pipelines) {
      const deps: FilterDeps = {
        log: log.child({ pipeline: spec.name }),
        sessions: this.sessions,
        pipeline: spec.name,
      };
      const filters = new Map(spec.filters.map((filter) => [filter.name, createFilter(filter, deps)]));
      this.pipelines.set(spec.name, new Pipeline(spec.name, spec, filters));
    }
    for (const spec of config.httpServers) this.servers.push(new GatewayHttpServer(spec, this.pipelines, log));
  }

  /** Builds the objects and opens every listener; a listener that cannot open closes the rest. */
  static async start(config: GatewayConfig, log: Logger): Promise<Gateway> {
    const gateway = new Gateway(config, log);
    try {
      for (const [index, server] of gateway.servers.entries()) {
        const address = await server.listen();
        const spec = config.httpServers[index];
        const paths = (spec?.rules ?? []).flatMap((rule) =>
          rule.paths.map((path) => path.path ?? path.pathPrefix ?? path.pathRegexp ?? "/"),
        );
        gateway.listeners.push({ server: server.name, address, paths });
      }
    } catch (error) {
      await Promise.all(gateway.servers.map((server) => server.close()));
      throw error;
    }
    return gateway;
  }

  /**
   * Moves the running gateway to `config` (already validated) without dropping what it need not: sessions keep the
   * filters and pool they started with; deleted routes and pipelines drain with 1001 over `drainWindow`.
   */
  apply(config: GatewayConfig): Promise<void> {
    void config;
    return Promise.reject(new Error("reload is not implemented yet"));
  }

  get listening(): readonly Listener[] {
    return this.listeners;
  }

  /**
   * Graceful stop: no new connections, close 1001 to every session, wait up to `drainMs` for the close
   * handshakes, then cut what is left.
   */
  async stop(drainMs: number): Promise<void> {
    const closing = Promise.all(this.servers.map((server) => server.close()));
    this.sessions.closeAll(CloseCode.GoingAway, "gateway shutting down");
    const drained = await this.sessions.waitUntilEmpty(drainMs);
    if (!drained) {
      this.log.warn({ left: this.sessions.size }, "drain time over, cutting remaining sessions");
      this.sessions.terminateAll();
    }
    for (const server of this.servers) server.closeAllConnections();
    await closing;
    for (const pipeline of this.pipelines.values()) pipeline.close();
  }
}
