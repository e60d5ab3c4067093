import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { objectKindNames, objectKinds } from "../../src/config/object-kinds.js";
import { configJsonSchema, renderConfigReference } from "../../src/config/reference-doc.js";
import { objectSchemaOf, unwrapSchema } from "../../src/schema/schema-walk.js";
import { filterKinds, filterRegistry } from "../../src/filters/registry.js";

/** Every field name of every object schema reachable from `schema`, found independently of the renderer. */
function fieldNames(
  schema: z.core.$ZodType,
  names = new Set<string>(),
  seen = new Set<z.core.$ZodType>(),
): Set<string> {
  const inner = unwrapSchema(schema);
  if (seen.has(inner)) return names;
  seen.add(inner);
  if (inner instanceof z.ZodObject) {
    for (const [name, field] of Object.entries(inner.shape)) {
      names.add(name);
      fieldNames(field, names, seen);
    }
  } else if (inner instanceof z.ZodArray) {
    fieldNames(inner.element, names, seen);
  } else if (inner instanceof z.ZodRecord) {
    fieldNames(inner.valueType, names, seen);
  } else if (inner instanceof z.ZodUnion) {
    for (const option of inner.options) fieldNames(option, names, seen);
  }
  return names;
}

/** The part of the reference from the heading of `kind` up to the next kind's heading, nested tables included. */
function section(doc: string, kind: string): string {
  const start = doc.indexOf(`\n### ${kind}\n`);
  assert.ok(start >= 0, `no section for ${kind}`);
  const end = doc.indexOf("\n### ", start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** `text` and the sections of the other kinds its tables refer to ("see *WebSocketProxy.pools[].filter*"). */
function withReferredSections(doc: string, text: string): string {
  const referred = new Set([...text.matchAll(/see \*([A-Za-z]+)\./g)].map((match) => match[1] ?? ""));
  return [text, ...[...referred].map((kind) => section(doc, kind))].join("\n");
}

describe("renderConfigReference", () => {
  const doc = renderConfigReference();
  const kinds = [
    ...objectKindNames.map((kind) => [kind, objectKinds[kind].schema] as const),
    ...filterKinds.map((kind) => [kind, filterRegistry[kind].schema] as const),
  ];

  it("documents every field of every object kind and filter kind, nested objects included", () => {
    for (const [kind, schema] of kinds) {
      // Shapes shared between kinds (the pools of Proxy and WebSocketProxy) are documented once and referred to.
      const text = withReferredSections(doc, section(doc, kind));
      // Filters are documented in their own sections, so a pipeline's walk stops at its filters.
      const names = fieldNames(kind === "Pipeline" ? objectSchemaOf(schema).omit({ filters: true }) : schema);
      names.add("kind");
      for (const name of names) assert.ok(text.includes(`| \`${name}\` |`), `${kind}: field ${name} is missing`);
    }
  });

  it("shows types, defaults and descriptions", () => {
    const server = section(doc, "HTTPServer");
    assert.match(server, /\| `port` \| integer 1–65535 \| \*\*required\*\* \| TCP port to listen on\. \|/);
    assert.match(server, /\| `keepAliveTimeout` \| duration \| `60s` \|/);
    assert.match(server, /\| `http3` \| boolean \| — \| Accepted for Easegress compatibility, no effect yet\. \|/);
    const proxy = section(doc, "WebSocketProxy");
    assert.match(proxy, /\| `clientMaxMsgSize` \| integer \(bytes, -1 = no limit\) \| `32769` \|/);
    assert.match(proxy, /\| `closeTimeout` \| duration \| `5s` \|/);
    assert.match(
      doc,
      /\| `policy` \| one of `roundRobin`, `random`, `weightedRandom`, `ipHash`, `headerHash`, `cookieHash`, `leastConnections` \| `roundRobin` \|/,
    );
    assert.match(doc, /\| `statusCodes` \| list of \[low, high\] status codes \| `\[\[101, 101\]\]` \|/);
    assert.match(
      section(doc, "Pipeline"),
      /without `flow` \(or with an empty one\) the filters run in the order they are listed/,
    );
    for (const line of doc.split("\n").filter((row) => row.startsWith("| `"))) {
      assert.equal(line.split(" | ").length, 4, `a row without four cells: ${line}`);
      assert.ok(!line.endsWith("|  |"), `a field without a description: ${line}`);
    }
  });
});

describe("configJsonSchema", () => {
  it("is one schema with oneOf over the object kinds, describing the input side", () => {
    const schema = configJsonSchema() as {
      oneOf: { properties: Record<string, { const?: string; default?: unknown; anyOf?: unknown[] }> }[];
    };
    assert.deepEqual(
      schema.oneOf.map((option) => option.properties["kind"]?.const),
      ["Gateway", "HTTPServer", "Pipeline"],
    );
    const server = schema.oneOf.find((option) => option.properties["kind"]?.const === "HTTPServer")?.properties;
    assert.equal(server?.["keepAliveTimeout"]?.default, "60s");
    assert.equal(server?.["keepAliveTimeout"]?.anyOf?.length, 2);
    assert.equal(JSON.stringify(schema).includes('"roundRobinX"'), false);
    assert.equal(JSON.stringify(schema).includes('"leastConnections"'), true);
  });
});
