// What one dashboard stream carries. One sampler per admin listener, running only while some page watches: once a
// second it reads the gateway's aggregates (the charted counters, the session counts and first rows, the pools) and
// hands the same sample to every subscriber. One sample costs the same with 10 or 10,000 sessions but for the relayed
// sums (one totals() call per live session): no exposition text, no view per session beyond the rows shown. The relay does no work for it: nothing is counted per frame that was not counted already.
import type { GatewayControl, SessionSummary, SessionView } from "../../control/control.js";
import type { MemberInfo } from "../../control/membership.js";
import type { PoolStatus } from "../../upstream/status.js";
import type { MemberSource } from "../members.js";
import type { ConfigChange, ConfigChangeRing } from "./config-changes.js";
import {
  CHARTED_COUNTERS,
  chartMetricTotals,
  metricRates,
  metricTotals,
  type MetricRates,
  type MetricTotals,
} from "./metric-totals.js";

/** One point of the charts. */
export interface RateSample extends MetricRates {
  /** Epoch ms. */
  t: number;
}

/** What the page shows beside the charts, as of one sample. */
export interface DashboardState {
  t: number;
  sessionCount: number;
  counts: { servers: Record<string, number>; routes: Record<string, number>; backends: Record<string, number> };
  /** The first SESSION_ROWS sessions, oldest first; `sessionCount` says how many there are. */
  sessions: SessionView[];
  pools: PoolStatus[];
  objects: Array<{ name: string; kind: string; revision: number; source?: string }>;
  configChanges: ConfigChange[];
  lastApplyError: string | null;
  /** Undefined when the gateway is not in a cluster. */
  members?: { members: MemberInfo[]; error?: string };
}

/** A page's end of the stream. */
export interface FeedSubscriber {
  history(samples: readonly RateSample[]): void;
  sample(sample: RateSample, state: DashboardState): void;
}

export const SAMPLE_INTERVAL_MS = 1000;
/** Fifteen minutes of one-second samples. */
export const HISTORY_SAMPLES = 900;
const SESSION_ROWS = 500;
const MEMBERS_EVERY_MS = 5000;
const MEMBERS_TIMEOUT_MS = 2000;

function countBy(sessions: readonly SessionView[], key: (session: SessionView) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const session of sessions) counts[key(session)] = (counts[key(session)] ?? 0) + 1;
  return counts;
}

export class DashboardFeed {
  private readonly subscribers = new Set<FeedSubscriber>();
  private readonly samples: RateSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private previous: { totals: MetricTotals; at: number } | undefined;
  private members: DashboardState["members"];
  private membersAt = 0;
  private sampling = false;

  constructor(
    private readonly control: GatewayControl,
    private readonly changes: ConfigChangeRing | undefined,
    private readonly memberSource: MemberSource | undefined,
  ) {}

  subscribe(subscriber: FeedSubscriber): () => void {
    this.subscribers.add(subscriber);
    subscriber.history(this.samples);
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.tick(), SAMPLE_INTERVAL_MS);
      this.timer.unref();
      void this.tick();
    }
    return () => {
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) this.stop();
    };
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    // Totals from before a pause would make one long interval look like one second.
    this.previous = undefined;
  }

  private async tick(): Promise<void> {
    // A slow read (a busy cluster) skips a beat rather than piling reads up.
    if (this.sampling) return;
    this.sampling = true;
    try {
      const at = Date.now();
      const [totals, sessions, status] = await Promise.all([
        this.readTotals(),
        this.readSessions(),
        this.control.status(),
      ]);
      const previous = this.previous;
      this.previous = { totals, at };
      if (previous === undefined) return;
      const sample: RateSample = { t: at, ...metricRates(totals, previous.totals, (at - previous.at) / 1000) };
      this.samples.push(sample);
      if (this.samples.length > HISTORY_SAMPLES) this.samples.shift();
      const state = await this.state(at, sessions, status.pools, status.lastApplyError);
      for (const subscriber of this.subscribers) subscriber.sample(sample, state);
    } catch {
      // The next tick tries again; a page shows the stream's age.
    } finally {
      this.sampling = false;
    }
  }

  /** From the telemetry's values when the control can (one gateway); else the exposition, rendered and parsed. */
  private async readTotals(): Promise<MetricTotals> {
    const control = this.control;
    if (control.chartTotals !== undefined) return chartMetricTotals(await control.chartTotals(CHARTED_COUNTERS));
    return metricTotals((await control.metrics()).body);
  }

  /** Counts and the first rows only, when the control can; else every session's view, counted here. */
  private async readSessions(): Promise<SessionSummary> {
    const control = this.control;
    if (control.sessionSummary !== undefined) return control.sessionSummary(SESSION_ROWS);
    const sessions = await control.sessions();
    return {
      count: sessions.length,
      counts: {
        servers: countBy(sessions, (session) => session.server),
        routes: countBy(sessions, (session) => `${session.server} ${session.route}`),
        backends: countBy(sessions, (session) => session.backend),
      },
      first: sessions.slice(0, SESSION_ROWS),
    };
  }

  private async state(
    t: number,
    sessions: SessionSummary,
    pools: PoolStatus[],
    lastApplyError: string | undefined,
  ): Promise<DashboardState> {
    const sources = this.control.sources;
    const state: DashboardState = {
      t,
      sessionCount: sessions.count,
      counts: sessions.counts,
      sessions: sessions.first,
      pools,
      objects: this.control.store.list().map(({ object, revision }) => ({
        name: object.name,
        kind: object.kind,
        revision,
        ...(sources === undefined ? {} : { source: sources.sourceOf(object.name) }),
      })),
      configChanges: this.changes?.list() ?? [],
      lastApplyError: lastApplyError ?? null,
    };
    const members = await this.clusterMembers(t);
    return members === undefined ? state : { ...state, members };
  }

  private async clusterMembers(now: number): Promise<DashboardState["members"]> {
    const source = this.memberSource;
    if (source === undefined) return undefined;
    if (this.members !== undefined && now - this.membersAt < MEMBERS_EVERY_MS) return this.members;
    this.membersAt = now;
    try {
      const timeout = new Promise<never>((_, reject) => {
        setTimeout(() => reject(new Error(`no answer within ${MEMBERS_TIMEOUT_MS} ms`)), MEMBERS_TIMEOUT_MS).unref();
      });
      this.members = { members: await Promise.race([source.listMembers(), timeout]) };
    } catch (error) {
      this.members = { members: this.members?.members ?? [], error: (error as Error).message };
    }
    return this.members;
  }
}
