import { z } from "zod";
import { filterKinds, filterRegistry } from "../filters/registry.js";
import { docMeta } from "../schema/doc-meta.js";
import type { DocMeta } from "../schema/doc-meta.js";
import { hasMark } from "../schema/marked-fields.js";
import { objectKindNames, objectKinds } from "./object-kinds.js";
import { objectSchemaOf, schemaLayers, unwrapSchema } from "../schema/schema-walk.js";

type Schema = z.core.$ZodType;

/** Heading levels: object and filter kinds, then every nested object under them. */
const KIND_LEVEL = 3;
const NESTED_LEVEL = 4;

const INTRO = [
  "# Configuration reference",
  "",
  "Generated from the configuration schema by `renderConfigReference()`; do not edit by hand.",
  "",
  "Configuration is YAML, in the object model of Easegress: each document is one object with `kind` and `name`,",
  "and a file may hold several documents separated by `---`. Names are unique among all objects and",
  "match `^[A-Za-z0-9][A-Za-z0-9._-]*$`. Unknown fields are errors.",
  "",
  "Durations are Go-style strings such as `500ms`, `30s`, `1m`, `1h30m` or `1.5s` (units `ns`, `us`, `ms`, `s`,",
  "`m`, `h`); a bare `0` is accepted as zero.",
].join("\n");

const INTROS: Readonly<Record<string, string>> = {
  Gateway:
    "Process-wide settings (at most one Gateway object): worker processes and the admin API listener. " +
    "They are read when the gateway starts; a change at run time is logged and takes effect at the next start.",
  HTTPServer: "Listens on a port and routes each request, by host and path rules, to a Pipeline (`backend`).",
  Pipeline:
    "A chain of filters. `flow` sets the order and the jumps; without `flow` (or with an empty one) the filters run " +
    "in the order they are listed.",
  "Pipeline.flow[]": "`filter` may be `END` to stop the pipeline there.",
  WebSocketProxy: "Proxies WebSocket connections to the servers of its pool.",
  Proxy: "Proxies plain HTTP requests to the servers of its pool, streaming bodies both ways.",
  WebSocketUpgradeCheck: "Refuses requests that are not a valid WebSocket upgrade (426, or 400 when malformed).",
  Validator: "Checks headers, a JWT or HTTP basic credentials; a failure answers 401 or 403 and returns `invalid`.",
  RateLimiter: "Limits handshakes and requests with token buckets per route, client IP or header value (429).",
};

interface Row {
  field: string;
  type: string;
  default: string;
  description: string;
}

interface Table {
  title: string;
  level: number;
  intro?: string;
  rows: Row[];
}

/** Tables rendered so far, and which object schema each nested table documents (so shared shapes appear once). */
interface Context {
  tables: Table[];
  titles: Map<Schema, string>;
}

function metaOf(schemas: readonly Schema[]): DocMeta & { description?: string } {
  const meta: DocMeta & { description?: string } = {};
  for (const schema of schemas) {
    const doc = docMeta.get(schema);
    meta.type ??= doc?.type;
    meta.default ??= doc?.default;
    meta.description ??= z.globalRegistry.get(schema)?.description;
  }
  return meta;
}

function code(value: unknown): string {
  const text = typeof value === "string" && value !== "" ? value : JSON.stringify(value).replaceAll(",", ", ");
  return `\`${text}\``;
}

function defaultText(schemas: readonly Schema[]): string {
  for (const schema of schemas) {
    if (schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault) return code(schema.def.defaultValue);
  }
  const optional = schemas.some((schema) => schema instanceof z.ZodOptional);
  return optional ? "—" : "**required**";
}

function numberText(schema: z.ZodNumber): string {
  const name = schema.isInt ? "integer" : "number";
  const min = schema.minValue !== null && schema.minValue > Number.MIN_SAFE_INTEGER ? schema.minValue : undefined;
  const max = schema.maxValue !== null && schema.maxValue < Number.MAX_SAFE_INTEGER ? schema.maxValue : undefined;
  if (min !== undefined && max !== undefined) return `${name} ${min}–${max}`;
  if (min !== undefined) return `${name} ≥ ${min}`;
  if (max !== undefined) return `${name} ≤ ${max}`;
  return name;
}

/** The Type column for a value schema; nested objects get their own table titled `title`. */
function typeText(schema: Schema, title: string, context: Context): string {
  const all = schemaLayers(schema);
  const override = metaOf(all).type;
  if (override !== undefined) return override;
  const inner = all[all.length - 1] ?? schema;
  if (inner instanceof z.ZodObject) return `object, see ${objectTable(inner, title, context)}`;
  if (inner instanceof z.ZodDiscriminatedUnion) {
    const kinds = inner.options.map((option) => code(String([...(option._zod.propValues?.["kind"] ?? [])][0])));
    return `filter, by \`kind\`: ${kinds.join(", ")} (see Filter kinds)`;
  }
  if (inner instanceof z.ZodArray) {
    const element = unwrapSchema(inner.element);
    if (element instanceof z.ZodObject) return `list of objects, see ${objectTable(element, `${title}[]`, context)}`;
    return `list of ${typeText(inner.element, `${title}[]`, context)}`;
  }
  if (inner instanceof z.ZodRecord) return `map of string to ${typeText(inner.valueType, title, context)}`;
  if (inner instanceof z.ZodTuple) {
    return `[${inner.def.items.map((item) => typeText(item, title, context)).join(", ")}]`;
  }
  if (inner instanceof z.ZodEnum) return `one of ${inner.options.map(code).join(", ")}`;
  if (inner instanceof z.ZodLiteral) return [...inner.values].map(code).join(" or ");
  if (inner instanceof z.ZodUnion) {
    return inner.options.map((option) => typeText(option, title, context)).join(" or ");
  }
  if (inner instanceof z.ZodNumber) return numberText(inner);
  if (inner instanceof z.ZodString) return "string";
  if (inner instanceof z.ZodBoolean) return "boolean";
  if (inner instanceof z.ZodUnknown) return "any";
  return inner._zod.def.type;
}

const SECRET_NOTE = " Secret: the admin API shows `<redacted>` unless asked with the token (`?secrets=true`).";

/** A secret field, or a map of secrets (TLS `keys`). */
function isSecretField(schema: Schema): boolean {
  const inner = unwrapSchema(schema);
  return hasMark(schema, "secret") || (inner instanceof z.ZodRecord && hasMark(inner.valueType, "secret"));
}

/** Renders an object's table (once per schema) and returns how to refer to it. */
function objectTable(schema: z.ZodObject, title: string, context: Context, level = NESTED_LEVEL): string {
  const existing = context.titles.get(schema);
  if (existing !== undefined) return `*${existing}*`;
  context.titles.set(schema, title);
  const intro = INTROS[title];
  const table: Table = { title, level, rows: [], ...(intro === undefined ? {} : { intro }) };
  context.tables.push(table);
  for (const [field, fieldSchema] of Object.entries(schema.shape)) {
    const all = schemaLayers(fieldSchema);
    const meta = metaOf(all);
    table.rows.push({
      field: `\`${field}\``,
      type: typeText(fieldSchema, `${title}.${field}`, context),
      default: meta.default ?? defaultText(all),
      description: `${meta.description ?? ""}${isSecretField(fieldSchema) ? SECRET_NOTE : ""}`,
    });
  }
  return `*${title}*`;
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

function renderTable(table: Table): string {
  const lines = [`${"#".repeat(table.level)} ${table.title}`, ""];
  if (table.intro !== undefined) lines.push(table.intro, "");
  lines.push("| Field | Type | Default | Description |", "| --- | --- | --- | --- |");
  for (const row of table.rows) {
    lines.push(`| ${[row.field, row.type, row.default, row.description].map(escapeCell).join(" | ")} |`);
  }
  return lines.join("\n");
}

/** Markdown reference of every object kind, filter kind and nested object: field, type, default, description. */
export function renderConfigReference(): string {
  const context: Context = { tables: [], titles: new Map() };
  const sections = [INTRO, "## Object kinds"];
  for (const kind of objectKindNames) {
    context.tables = [];
    objectTable(objectSchemaOf(objectKinds[kind].schema), kind, context, KIND_LEVEL);
    sections.push(...context.tables.map(renderTable));
  }
  sections.push("## Filter kinds");
  for (const kind of filterKinds) {
    context.tables = [];
    objectTable(objectSchemaOf(filterRegistry[kind].schema), kind, context, KIND_LEVEL);
    sections.push(...context.tables.map(renderTable));
  }
  return `${sections.join("\n\n")}\n`;
}

/** JSON Schema (draft 2020-12) for one configuration document: `oneOf` over the object kinds. */
export function configJsonSchema(): object {
  const [first, ...rest] = objectKindNames.map((kind) => objectKinds[kind].schema);
  if (first === undefined) throw new Error("no object kinds");
  const document = z.discriminatedUnion("kind", [first, ...rest]).meta({
    title: "wsgate configuration object",
    description: "One YAML document of a wsgate configuration file.",
  });
  return z.toJSONSchema(document, { io: "input" });
}

/** The reference as embedded in the README: every heading one level deeper, under the README's own title. */
export function renderReadmeReference(): string {
  return renderConfigReference()
    .trimEnd()
    .replace(/^(#+) /gm, "#$1 ");
}

export const README_MARKERS = {
  start: "<!-- config-reference:start -->",
  end: "<!-- config-reference:end -->",
} as const;

/** README text with the section between the markers replaced by the current reference. */
export function withReadmeReference(readme: string): string {
  const start = readme.indexOf(README_MARKERS.start);
  const end = readme.indexOf(README_MARKERS.end);
  if (start < 0 || end < start) throw new Error("README has no config-reference markers");
  return `${readme.slice(0, start + README_MARKERS.start.length)}\n\n${renderReadmeReference()}\n\n${readme.slice(end)}`;
}
