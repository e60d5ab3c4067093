/** Helpers for YAML documents as plain data, before any schema has vouched for their shape. */

/** A YAML map: an object that is not a list. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value at `path` (map keys and list indexes), or undefined where the path leaves the data. */
export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of path) {
    if (isRecord(value)) value = value[String(key)];
    else if (Array.isArray(value) && typeof key === "number") value = value[key];
    else return undefined;
  }
  return value;
}

/** Items of the list at `key` that are maps, with their indexes; other items are the schema's business. */
export function mapsIn(data: Record<string, unknown>, key: string): [number, Record<string, unknown>][] {
  const list = data[key];
  if (!Array.isArray(list)) return [];
  return list.flatMap((item: unknown, index): [number, Record<string, unknown>][] =>
    isRecord(item) ? [[index, item]] : [],
  );
}
