import type { ConfigObject } from "../config/load.js";

/** The stored value: the object's data (kind, name, spec fields as written) as JSON. */
export function encodeObject(object: ConfigObject): string {
  return JSON.stringify(object.data);
}

/** The object in a stored value, or why it is not one (someone else's key, a hand edit gone wrong). */
export function decodeObject(name: string, value: string): ConfigObject | string {
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch (error) {
    return `not JSON: ${(error as Error).message}`;
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) return "not a JSON object";
  const record = data as Record<string, unknown>;
  if (typeof record.kind !== "string") return "no 'kind'";
  if (record.name !== name) return `its name '${String(record.name)}' is not the key's name '${name}'`;
  return { kind: record.kind, name, data: record };
}
