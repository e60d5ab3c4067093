// Marks on field schemas that say what a field's value is beyond its type: a secret (the admin API never shows it
// unless asked with the token) or a URL the gateway connects to (it must not be the admin listener). Marking the
// schema, not listing paths, covers every place the field appears, in every kind, as soon as it is declared.
import { z } from "zod";
import { isRecord } from "./plain-data.js";
import { schemaLayers, unwrapSchema } from "./schema-walk.js";

type Schema = z.core.$ZodType;

export type FieldMark = "secret" | "outboundUrl";

const marks = new WeakMap<Schema, Set<FieldMark>>();

/** Marks `schema` (as it sits in its object's shape) and returns it, for use inline in a schema definition. */
export function markField<T extends Schema>(schema: T, mark: FieldMark): T {
  const set = marks.get(schema) ?? new Set<FieldMark>();
  set.add(mark);
  marks.set(schema, set);
  return schema;
}

/** Whether `schema` or any wrapper inside it carries `mark`. */
export function hasMark(schema: Schema, mark: FieldMark): boolean {
  return schemaLayers(schema).some((layer) => marks.get(layer)?.has(mark) === true);
}

/** The paths in `data` (checked against `root`) whose value is given and whose field carries `mark`. */
export function markedPaths(root: Schema, data: unknown, mark: FieldMark): PropertyKey[][] {
  const found: PropertyKey[][] = [];
  visit(root, data, [], mark, found);
  return found;
}

function visit(
  schema: Schema | undefined,
  value: unknown,
  path: PropertyKey[],
  mark: FieldMark,
  found: PropertyKey[][],
) {
  if (schema === undefined || value === undefined) return;
  if (hasMark(schema, mark)) {
    found.push(path);
    return;
  }
  const current = unwrapSchema(schema, value);
  if (current instanceof z.ZodObject && isRecord(value)) {
    for (const [key, item] of Object.entries(value)) visit(current.shape[key], item, [...path, key], mark, found);
  } else if (current instanceof z.ZodRecord && isRecord(value)) {
    for (const [key, item] of Object.entries(value)) visit(current.valueType, item, [...path, key], mark, found);
  } else if (current instanceof z.ZodArray && Array.isArray(value)) {
    for (const [index, item] of value.entries()) visit(current.element, item, [...path, index], mark, found);
  } else if (current instanceof z.ZodTuple && Array.isArray(value)) {
    for (const [index, item] of value.entries()) visit(current.def.items[index], item, [...path, index], mark, found);
  } else if (current instanceof z.ZodUnion) {
    // A union that the value did not resolve: each option may hold a marked field; a path is found once.
    const seen = new Set<string>();
    for (const option of current.options) {
      const inner: PropertyKey[][] = [];
      visit(option, value, path, mark, inner);
      for (const each of inner) {
        const key = JSON.stringify(each.map(String));
        if (!seen.has(key)) found.push(each);
        seen.add(key);
      }
    }
  }
}
