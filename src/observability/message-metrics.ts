// Per-message metrics: message sizes and frames per message (histograms) and control frames (a counter), per route
// and direction. The relay bumps the route's tallies (util/message-tally.ts) as messages end; this module turns the
// tallies into Prometheus families when they are read. prom-client's Histogram cannot take counts made elsewhere, so
// the families are small objects of ours that the registry reads like its own (`get`, `remove`, `reset`).
import type { Metric, Registry } from "prom-client";
import { FRAMES_PER_MESSAGE_BOUNDS, MESSAGE_SIZE_BOUNDS, MessageTally } from "../util/message-tally.js";

/** A close code as a bounded label: the RFC's codes as they are, application codes by their thousand. */
export function closeCodeClass(code: number): string {
  if (code >= 1000 && code <= 1015) return String(code);
  if (code >= 3000 && code <= 3999) return "3xxx";
  return code >= 4000 && code <= 4999 ? "4xxx" : "other";
}

/** A route's two tallies: what its clients sent, and what its backends sent. */
export interface RouteTallies {
  readonly fromClient: MessageTally;
  readonly fromBackend: MessageTally;
}

interface RouteEntry extends RouteTallies {
  readonly server: string;
  readonly route: string;
}

type Labels = Record<string, string | number>;
interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
}

const DIRECTIONS = [
  ["client_to_backend", "fromClient"],
  ["backend_to_client", "fromBackend"],
] as const;

/** A family read from the tallies: what prom-client's registry and cluster aggregation ask of a metric. */
class TallyFamily {
  readonly aggregator = "sum";
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "histogram" | "counter",
    private readonly samples: () => Sample[],
  ) {}

  // The registry awaits what `get` returns; a promise is what its own metrics give.
  get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: string }> {
    const { name, help, type, aggregator } = this;
    return Promise.resolve({ name, help, type, values: this.samples(), aggregator });
  }

  /** Series go with their route (`MessageMetrics.forget`), not one by one. */
  remove(): void {}

  reset(): void {}
}

function histogramSamples(
  name: string,
  labels: Labels,
  bounds: readonly number[],
  counts: Float64Array,
  sum: number,
): Sample[] {
  const samples: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += counts[i] ?? 0;
    samples.push({ metricName: `${name}_bucket`, labels: { ...labels, le: bounds[i] ?? 0 }, value: cumulative });
  }
  cumulative += counts[bounds.length] ?? 0;
  samples.push({ metricName: `${name}_bucket`, labels: { ...labels, le: "+Inf" }, value: cumulative });
  samples.push({ metricName: `${name}_sum`, labels, value: sum });
  samples.push({ metricName: `${name}_count`, labels, value: cumulative });
  return samples;
}

export class MessageMetrics {
  readonly #routes = new Map<string, RouteEntry>();

  constructor(registry: Registry) {
    const sizes = "wsgate_websocket_message_size_bytes";
    const frames = "wsgate_websocket_message_frames";
    const families = [
      new TallyFamily(
        sizes,
        "WebSocket data messages by payload size (all fragments; compressed size under permessage-deflate), by direction.",
        "histogram",
        () => this.#histogram(sizes, MESSAGE_SIZE_BOUNDS, (tally) => [tally.sizes, tally.sizeSum]),
      ),
      new TallyFamily(
        frames,
        "WebSocket data messages by number of frames (1: not fragmented), by direction.",
        "histogram",
        () => this.#histogram(frames, FRAMES_PER_MESSAGE_BOUNDS, (tally) => [tally.frames, tally.frameSum]),
      ),
      new TallyFamily(
        "wsgate_websocket_control_frames_total",
        "WebSocket control frames received from each peer (ping, pong, close), by direction (client_to_backend: from the client).",
        "counter",
        () => this.#controls(),
      ),
    ];
    // Duck-typed: the registry only calls get/remove/reset and reads name, help, type and aggregator.
    for (const family of families) registry.registerMetric(family as unknown as Metric);
  }

  /** The tallies of a route, made the first time a session starts on it. */
  tallies(server: string, route: string): RouteTallies {
    const key = `${server}\u0000${route}`;
    let entry = this.#routes.get(key);
    if (entry === undefined) {
      entry = { server, route, fromClient: new MessageTally(), fromBackend: new MessageTally() };
      this.#routes.set(key, entry);
    }
    return entry;
  }

  /** Drops the routes a reload removed (sessions still on them count into tallies no longer read). */
  forget(gone: (labels: { server: string; route: string }) => boolean): void {
    for (const [key, entry] of this.#routes) if (gone(entry)) this.#routes.delete(key);
  }

  #histogram(name: string, bounds: readonly number[], pick: (tally: MessageTally) => [Float64Array, number]): Sample[] {
    const samples: Sample[] = [];
    for (const entry of this.#routes.values()) {
      for (const [direction, side] of DIRECTIONS) {
        const [counts, sum] = pick(entry[side]);
        const labels = { server: entry.server, route: entry.route, direction };
        samples.push(...histogramSamples(name, labels, bounds, counts, sum));
      }
    }
    return samples;
  }

  #controls(): Sample[] {
    const samples: Sample[] = [];
    for (const { server, route, fromClient, fromBackend } of this.#routes.values()) {
      for (const [direction, tally] of [
        ["client_to_backend", fromClient],
        ["backend_to_client", fromBackend],
      ] as const) {
        samples.push({ labels: { server, route, direction, kind: "ping" }, value: tally.pings });
        samples.push({ labels: { server, route, direction, kind: "pong" }, value: tally.pongs });
        samples.push({ labels: { server, route, direction, kind: "close" }, value: tally.closes });
      }
    }
    return samples;
  }
}
