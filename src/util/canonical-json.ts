/**
 * JSON with every object's keys sorted: two values are the same when this text is, whatever order their fields were
 * written or defaulted in. RegExps (none in validated specs today) are kept by their source.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner instanceof RegExp) return `/${inner.source}/${inner.flags}`;
    if (inner === null || typeof inner !== "object" || Array.isArray(inner)) return inner;
    return Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}
