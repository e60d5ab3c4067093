// The path of a request target, for pool filters and rate-limiter keys. (The passive-health reason that lived here
// moved to upstream/connect/failure.ts, beside the one failure classifier; this file keeps its path for its importers.)

/** The path of a request target, without the query: what a pool filter's `urls` test. */
export function pathOf(target: string): string {
  const query = target.indexOf("?");
  return query < 0 ? target : target.slice(0, query);
}
