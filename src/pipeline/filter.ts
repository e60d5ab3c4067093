import type { Logger } from "../observability/logger.js";
import type { SessionRegistry } from "../observability/sessions.js";
import type { Telemetry } from "../observability/telemetry.js";
import type { UpstreamStatusRegistry } from "../upstream/status.js";
import type { HandshakeContext } from "./context.js";

/** What a filter kind gets when an instance is built (once per config load). */
export interface FilterDeps {
  log: Logger;
  sessions: SessionRegistry;
  /** The pipeline the filter belongs to. */
  pipeline: string;
  /** The Pipeline object being built (a new one per version of the pipeline's spec); sessions record it. */
  pipelineInstance?: number;
  /** The gateway's metrics, access logs and secret query parameters. */
  telemetry: Telemetry;
  /** The gateway's pool status registry: the filters' pools list themselves there. */
  upstreamStatus: UpstreamStatusRegistry;
}

/**
 * One step of a pipeline. `handle` returns a result: "" to go on, or a name the pipeline's `jumpIf` may act on.
 * A filter that answers the request (reject, or take the socket over) ends the flow.
 */
export interface Filter {
  readonly name: string;
  readonly kind: string;
  /**
   * What the filter serves: plain requests only (`request`, the Proxy), upgrades only (`upgrade`, the
   * WebSocketProxy), or both (absent: checks and limits). A pipeline that has a filter for a request's own kind skips
   * the filters of the other kind, whatever their order; without one they run, and answer as they see fit.
   */
  readonly traffic?: "request" | "upgrade";
  /**
   * Headers the filter may set on the backend request (a Validator's `forwardClaims`). The pipeline owns them for every
   * request it runs, so that the client's copies never pass, whether or not the filter runs or sets a value.
   */
  readonly upstreamHeaderNames?: readonly string[];
  handle(context: HandshakeContext): string | Promise<string>;
  /** Releases timers and other resources when the config that built it is replaced. */
  close(): void;
}

/** How a filter kind builds an instance from a validated spec; its possible results are in the config registry. */
export interface FilterFactory<Spec> {
  create(spec: Spec, deps: FilterDeps): Filter;
  /**
   * Builds the instance that replaces `previous` (the filter of the same name in the config being replaced) and takes
   * over its state, e.g. a rate limiter's counters (Easegress `Inherit`). Without it, reloads call `create`.
   */
  inherit?(spec: Spec, deps: FilterDeps, previous: Filter): Filter;
}
