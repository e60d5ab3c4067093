import { isAlias, isMap, isNode, isScalar, isSeq } from "yaml";
import type { Document, LineCounter, Node } from "yaml";
import type { Anchor } from "./issues.js";

export interface Position {
  line: number;
  column: number;
}

interface Found {
  node: Node | undefined;
  key: Node | undefined;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === "string" || typeof key === "number" ? String(key) : undefined;
}

/** The node at `path` and the key node that leads to it, following aliases; undefined past the end. */
function findNode(doc: Document, path: readonly PropertyKey[]): Found | undefined {
  let found: Found = { node: isNode(doc.contents) ? doc.contents : undefined, key: undefined };
  for (const step of path) {
    let node = found.node;
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((item) => keyText(item.key) === String(step));
      if (pair === undefined) return undefined;
      found = { node: isNode(pair.value) ? pair.value : undefined, key: isNode(pair.key) ? pair.key : undefined };
    } else if (isSeq(node) && typeof step === "number") {
      const item = node.items[step];
      if (item === undefined) return undefined;
      found = { node: isNode(item) ? item : undefined, key: undefined };
    } else {
      return undefined;
    }
  }
  return found;
}

function startOf(node: Node | undefined): number | undefined {
  return node?.range?.[0];
}

/** The 1-based line and column where the user should look for a problem at `path` in one YAML document. */
export function locate(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly PropertyKey[],
  anchor: Anchor,
): Position {
  let offset: number | undefined;
  // Missing fields point at the map that lacks them; everything else points at itself (or its key).
  let remaining = anchor === "parent" ? path.slice(0, -1) : [...path];
  while (offset === undefined) {
    const found = findNode(doc, remaining);
    if (found !== undefined) {
      offset =
        anchor === "key" ? (startOf(found.key) ?? startOf(found.node)) : (startOf(found.node) ?? startOf(found.key));
    }
    if (remaining.length === 0) break;
    remaining = remaining.slice(0, -1);
  }
  const position = lineCounter.linePos(offset ?? doc.range?.[0] ?? 0);
  return { line: Math.max(1, position.line), column: Math.max(1, position.col) };
}
