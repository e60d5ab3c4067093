import { z } from "zod";
import { isRecord, valueAt } from "./plain-data.js";

type Schema = z.core.$ZodType;

/** The option of a `kind`-discriminated union that `value` selects, if any. */
export function selectOption(union: z.ZodDiscriminatedUnion, value: unknown): Schema | undefined {
  if (!isRecord(value)) return undefined;
  const discriminator = union.def.discriminator;
  const wanted = value[discriminator];
  return union.options.find((option) =>
    [...(option._zod.propValues?.[discriminator] ?? [])].some((candidate) => candidate === wanted),
  );
}

/** The schema one wrapper in (optional, default, the input side of a pipe, ...), or undefined for a non-wrapper. */
export function innerSchema(schema: Schema): Schema | undefined {
  if (
    schema instanceof z.ZodOptional ||
    schema instanceof z.ZodNullable ||
    schema instanceof z.ZodDefault ||
    schema instanceof z.ZodPrefault ||
    schema instanceof z.ZodReadonly ||
    schema instanceof z.ZodCatch ||
    schema instanceof z.ZodNonOptional
  ) {
    return schema.def.innerType;
  }
  if (schema instanceof z.ZodPipe) return schema.def.in;
  if (schema instanceof z.ZodLazy) return schema.def.getter();
  return undefined;
}

/** A field schema and each wrapper inside it, outermost first, ending at the value's own schema. */
export function schemaLayers(schema: Schema): Schema[] {
  const layers = [schema];
  for (let inner = innerSchema(schema); inner !== undefined; inner = innerSchema(inner)) layers.push(inner);
  return layers;
}

/**
 * Strips wrappers that do not change which fields a value may have: optional, default, transform pipes (input
 * side) and so on. A discriminated union is resolved with `value` when given.
 */
export function unwrapSchema(schema: Schema, value?: unknown): Schema {
  let current = schema;
  for (;;) {
    const inner = innerSchema(current);
    const option =
      inner === undefined && current instanceof z.ZodDiscriminatedUnion && value !== undefined
        ? selectOption(current, value)
        : undefined;
    if (inner === undefined && option === undefined) return current;
    current = inner ?? option ?? current;
  }
}

/** The object schema under a kind's wrappers (a kind's schema may end in a transform). */
export function objectSchemaOf(schema: Schema): z.ZodObject {
  const inner = unwrapSchema(schema);
  if (!(inner instanceof z.ZodObject)) throw new Error(`expected an object schema, found ${inner._zod.def.type}`);
  return inner;
}

/** The schema that validates the value at `path` inside `data`, or undefined when the path leaves the schema. */
export function schemaAt(root: Schema, path: readonly PropertyKey[], data: unknown): Schema | undefined {
  let schema: Schema | undefined = root;
  let value = data;
  for (const key of path) {
    if (schema === undefined) return undefined;
    const current = unwrapSchema(schema, value);
    value = valueAt(value, [key]);
    if (current instanceof z.ZodObject) schema = current.shape[String(key)];
    else if (current instanceof z.ZodArray) schema = current.element;
    else if (current instanceof z.ZodRecord) schema = current.valueType;
    else if (current instanceof z.ZodTuple) schema = typeof key === "number" ? current.def.items[key] : undefined;
    else schema = undefined;
  }
  return schema === undefined ? undefined : unwrapSchema(schema, value);
}

/** Field names the object at `path` may have; empty when the path does not lead to an object schema. */
export function knownFieldsAt(root: Schema, path: readonly PropertyKey[], data: unknown): string[] {
  const schema = schemaAt(root, path, data);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}
