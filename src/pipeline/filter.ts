import type { z } from "zod";
import type { GatewayError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { SessionRegistry } from "../observability/sessions.js";
import type { Telemetry } from "../observability/telemetry.js";
import type { UpstreamStatusRegistry } from "../upstream/status.js";
import type { RequestContext } from "./context.js";

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
 * A failure result and the answer prepared for it (Easegress: the status, headers and body the filter set). The
 * pipeline sends `error` only when the flow ends on this filter: no `jumpIf` for `result`, or a `jumpIf` to END. A
 * `jumpIf` to a filter drops it and goes on there.
 */
export interface Refusal {
  readonly result: string;
  readonly error: GatewayError;
}

/** What a filter's `handle` ends with: "" to go on, a result name, or a failure result with its prepared refusal. */
export type FilterResult = string | Refusal;

/**
 * One step of a pipeline. `handle` returns "" to go on to the next step, or a result the pipeline's `jumpIf` acts on:
 * with a `jumpIf` for it the flow goes on at the named filter, without one (or at END) the flow ends. A filter that
 * answers the request itself (reject, or take the socket over) ends the flow whatever it returns.
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
  handle(context: RequestContext): FilterResult | Promise<FilterResult>;
  /** Releases timers and other resources when the config that built it is replaced. */
  close(): void;
}

/** How a filter kind builds an instance from a validated spec. */
export interface FilterFactory<Spec> {
  create(spec: Spec, deps: FilterDeps): Filter;
  /**
   * Builds the instance that replaces `previous` (the filter of the same name in the config being replaced) and takes
   * over its state, e.g. a rate limiter's counters (Easegress `Inherit`). Without it, reloads call `create`.
   */
  inherit?(spec: Spec, deps: FilterDeps, previous: Filter): Filter;
}

/**
 * A filter kind describing itself (Easegress `filters.Kind`): its name, its spec, the results it may return and how
 * an instance is made. Each kind declares one in its own folder (`filters/<kind>/kind.ts`); the registry lists them,
 * and the config loader, the cross-check, the reference doc and the factories all read them from there.
 */
export interface FilterKind<Name extends string = string, Schema extends z.ZodType = z.ZodType> extends FilterFactory<
  z.output<Schema>
> {
  /** The value of the spec's `kind` field. */
  readonly name: Name;
  /** What the filter does, in a sentence. */
  readonly description: string;
  /** The spec: validation with file:line errors, defaults (Easegress `DefaultSpec`), types and the JSON Schema. */
  readonly schema: Schema;
  /** The results `handle` may return besides "": the keys a `jumpIf` may use. */
  readonly results: readonly string[];
}

/** Declares a filter kind, keeping its literal name and schema type for the registry's spec union. */
export function defineFilterKind<const Name extends string, Schema extends z.ZodType>(
  kind: FilterKind<Name, Schema>,
): FilterKind<Name, Schema> {
  return kind;
}
