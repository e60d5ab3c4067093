// A header name as the backends behind the gateway compare it. CGI, WSGI and PHP backends read `X-Role`, `x_role` and
// `X_ROLE` all as HTTP_X_ROLE, so the gateway compares names the same way wherever it removes or replaces one.

/** A header name as such backends read it: lower case, `_` taken for `-`. */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes("_") ? lower.replaceAll("_", "-") : lower;
}

/** The keys of `names`, for a set made once (at config load) and owned by many requests. */
export function headerKeys(names: Iterable<string>): ReadonlySet<string> {
  return new Set([...names].map(headerKey));
}
