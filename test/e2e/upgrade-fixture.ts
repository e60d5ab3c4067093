// What the upgrade end-to-end tests share (upgrade-*.test.ts; the cluster's upgrade-workers* have their own).
import { WebSocket } from "ws";
import { admin } from "../helpers/admin.js";
import { withTimeout } from "../helpers/net.js";

/** A counter series from /metrics: its family and labels (sorted) as one key, and its value. */
export type CounterValues = Map<string, number>;

/** Families about the process itself (CPU seconds): a new process starts its own, they are not carried. */
function describesProcess(name: string): boolean {
  return name.startsWith("wsgate_process_") || name.startsWith("wsgate_nodejs_");
}

/** The key of a series in CounterValues. */
export function seriesKey(family: string, labels: Record<string, string>): string {
  const sorted = Object.entries(labels)
    .map(([label, text]) => `${label}=${JSON.stringify(text)}`)
    .sort();
  return `${family}{${sorted.join(",")}}`;
}

/** The counter series of a Prometheus text exposition (the process's own excepted), by `family{labels}`. */
export function counterValues(exposition: string): CounterValues {
  const counters = new Set<string>();
  const values: CounterValues = new Map();
  for (const line of exposition.split("\n")) {
    const type = /^# TYPE (\S+) counter$/.exec(line);
    if (type?.[1] !== undefined) {
      counters.add(type[1]);
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample === null) continue;
    const [, name = "", labelText = "", value = ""] = sample;
    if (!counters.has(name) || describesProcess(name)) continue;
    const labels = [...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, label = "", text = ""]) => [
      label,
      text,
    ]);
    values.set(seriesKey(name, Object.fromEntries(labels)), Number(value));
  }
  return values;
}

/**
 * The counters the admin API serves now. Sent twice at most: the kept-alive connection a previous call used may be
 * one the process that let go of the admin listener has just closed.
 */
export async function readCounters(adminPort: number): Promise<CounterValues> {
  const read = (): Promise<string> =>
    admin(adminPort, "GET", "/metrics").then((reply) => {
      if (reply.status !== 200) throw new Error(`/metrics answered ${reply.status}`);
      return reply.text;
    });
  return counterValues(await read().catch(read));
}

/** The series whose value went back from `before` to `after` (missing counts as 0), as "key: before → after". */
export function wentBack(before: CounterValues, after: CounterValues): string[] {
  const back: string[] = [];
  for (const [key, value] of before) {
    const now = after.get(key) ?? 0;
    if (now < value) back.push(`${key}: ${value} → ${now}`);
  }
  return back;
}

/** A plain `ws` client, open. */
export function openSession(url: string): Promise<WebSocket> {
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
      ws.once("unexpected-response", (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    }),
    5000,
    `a session to ${url} to open`,
  );
}
