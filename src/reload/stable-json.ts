/**
 * JSON with object keys sorted, so that two specs that are equal as data give the same text whatever order their
 * fields were written or defaulted in. RegExps (none in validated specs today) are kept by their source.
 */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (item instanceof RegExp) return `/${item.source}/${item.flags}`;
    if (item === null || typeof item !== "object" || Array.isArray(item)) return item;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(item).sort()) sorted[key] = (item as Record<string, unknown>)[key];
    return sorted;
  });
}
