import type { PipelineSpec } from "./spec.js";
import { END } from "./spec.js";
import { trafficError } from "../errors.js";
import type { RequestContext } from "./context.js";
import type { Filter, FilterResult } from "./filter.js";
import { upgradeVerdict } from "../websocket/handshake.js";
import { headerKeys } from "./owned-headers.js";

class PipelineEndedError extends trafficError("WSG_PIPELINE_NO_ANSWER") {
  constructor(pipeline: string) {
    super(`pipeline ${pipeline} ended without an answer`);
  }
}

class FilterFailedError extends trafficError("WSG_FILTER_FAILED") {}

interface Step {
  /** The filter to run; null for an `END` step, which stops the flow. */
  filter: Filter | null;
  /** Result name → index of the next step (steps.length for END). */
  jumps: ReadonlyMap<string, number>;
}

/**
 * A pipeline's flow, resolved once: each request runs the steps in order. A filter returns "" to go on, or a result:
 * with a `jumpIf` for it the flow goes on at that filter (forward only), else it ends there. When the flow ends
 * without an answer, the refusal the last filter prepared is sent, or a 500 when it prepared none.
 */
export class Pipeline {
  private readonly steps: Step[];
  /** Kinds of traffic some filter of the flow serves on its own (a Proxy: requests; a WebSocketProxy: upgrades). */
  private readonly served: ReadonlySet<RequestContext["kind"]>;
  /** Every header some filter of the pipeline may set for the backend (see `Filter.upstreamHeaderNames`). */
  private readonly ownedHeaders: ReadonlySet<string>;

  constructor(
    readonly name: string,
    spec: PipelineSpec,
    readonly filters: ReadonlyMap<string, Filter>,
  ) {
    const end = spec.flow.length;
    // A jump goes to the first step of that name after this one (as Easegress scans on): a filter may appear twice.
    const nextStepOf = (target: string, from: number): number => {
      const index = spec.flow.findIndex((node, at) => at > from && node.filter === target);
      return target === END || index < 0 ? end : index;
    };
    this.steps = spec.flow.map((node, index) => {
      const filter = node.filter === END ? null : filters.get(node.filter);
      if (filter === undefined) throw new Error(`pipeline ${name}: flow names unknown filter ${node.filter}`);
      const jumps = new Map<string, number>();
      for (const [result, target] of Object.entries(node.jumpIf)) jumps.set(result, nextStepOf(target, index));
      return { filter, jumps };
    });
    this.served = new Set(this.steps.flatMap(({ filter }) => (filter?.traffic === undefined ? [] : [filter.traffic])));
    this.ownedHeaders = headerKeys([...filters.values()].flatMap((filter) => filter.upstreamHeaderNames ?? []));
  }

  /** A filter for the other kind of traffic is skipped when the flow has one for this kind (Proxy + WebSocketProxy). */
  private skips(filter: Filter, context: RequestContext): boolean {
    return filter.traffic !== undefined && filter.traffic !== context.kind && this.served.has(context.kind);
  }

  async handle(context: RequestContext): Promise<void> {
    context.ownedHeaders.ownAll(this.ownedHeaders);
    if (context.kind === "upgrade") {
      // Only WebSocket is served: h2c and other upgrades never reach a filter or a backend.
      const verdict = upgradeVerdict(context.req, true);
      if (verdict.kind === "other-protocol") {
        context.reject(verdict.error);
        return;
      }
    }
    // What the last filter that ran returned: the flow ends on it, so its prepared refusal is the answer.
    let outcome: FilterResult = "";
    let index = 0;
    while (index < this.steps.length && !context.answered) {
      const { filter, jumps } = this.steps[index] as Step;
      if (filter === null) break;
      if (this.skips(filter, context)) {
        index++;
        continue;
      }
      try {
        outcome = await filter.handle(context);
      } catch (error) {
        // A filter bug costs this request a 500, never the process.
        context.log.error({ err: error, filter: filter.name }, "filter failed");
        context.reject(new FilterFailedError(`filter ${filter.name} failed`));
        return;
      }
      const result = typeof outcome === "string" ? outcome : outcome.result;
      if (result === "") {
        index++;
        continue;
      }
      // A result without a jumpIf ends the flow (Easegress); one to END lands past the last step.
      const target = jumps.get(result);
      if (target === undefined) break;
      if (typeof outcome !== "string" && target < this.steps.length) {
        // The refusal is dropped: say so at debug level, since no request_rejected line will.
        const to = this.steps[target]?.filter?.name ?? END;
        context.log.debug(
          { event: "flow_jump", filter: filter.name, result, to, reason: outcome.error.message },
          "jumpIf",
        );
      }
      index = target;
    }
    if (context.answered) return;
    context.reject(typeof outcome === "string" ? new PipelineEndedError(this.name) : outcome.error);
  }

  close(): void {
    for (const filter of this.filters.values()) filter.close();
  }
}
