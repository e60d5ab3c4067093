// Secrets in the admin API's answers: every field whose schema is marked secret is shown as "<redacted>", unless the
// caller holds the admin token and asks with `?secrets=true`. A body that sends "<redacted>" back in such a field
// keeps the stored value there, so `wsgate get -o yaml` then `wsgate apply` round-trips without knowing the secret.
import { LineCounter, isScalar, parseAllDocuments } from "yaml";
import type { ConfigError } from "../config/errors.js";
import { formatPath } from "../config/errors.js";
import { locate } from "../config/locate.js";
import { markedPaths } from "../schema/marked-fields.js";
import { isObjectKind, objectKinds } from "../config/object-kinds.js";
import { isRecord, valueAt } from "../schema/plain-data.js";
import type { ObjectStore } from "../control/object-store.js";
import { InvalidObjectError, InvalidQueryError, SecretsNeedTokenError } from "./errors.js";
import { REQUEST_FILE } from "./object-body.js";

/** What a secret's value is replaced with; sent back unchanged, it means "keep the stored value". */
export const REDACTED = "<redacted>";

function secretPaths(kind: string, data: unknown): PropertyKey[][] {
  return isObjectKind(kind) ? markedPaths(objectKinds[kind].schema, data, "secret") : [];
}

/** A copy of an object's data with each secret replaced by REDACTED. */
export function redactSecrets(kind: string, data: Record<string, unknown>): Record<string, unknown> {
  const paths = secretPaths(kind, data);
  if (paths.length === 0) return data;
  const copy = structuredClone(data);
  for (const path of paths) setAt(copy, path, REDACTED);
  return copy;
}

function setAt(data: unknown, path: readonly PropertyKey[], value: unknown): void {
  const parent = valueAt(data, path.slice(0, -1));
  const key = path[path.length - 1];
  if (Array.isArray(parent) && typeof key === "number") parent[key] = value;
  else if (isRecord(parent) && key !== undefined) parent[String(key)] = value;
}

/** Whether an object's data keeps a stored secret with REDACTED: only the server can check it whole. */
export function keepsStoredSecrets(data: unknown): boolean {
  if (!isRecord(data) || typeof data["kind"] !== "string") return false;
  return secretPaths(data["kind"], data).some((path) => valueAt(data, path) === REDACTED);
}

/**
 * `?secrets=true`: show secrets. Only with a token configured (the request has passed it by then); without one the
 * API cannot tell the operator from any local process, so it refuses.
 */
export function secretsWanted(query: URLSearchParams, tokenConfigured: boolean): boolean {
  const text = query.get("secrets");
  if (text === null || text === "false") return false;
  if (text !== "true") throw new InvalidQueryError(`secrets must be true or false, not '${text}'`);
  if (!tokenConfigured) throw new SecretsNeedTokenError();
  return true;
}

/**
 * The body with each REDACTED secret replaced by the stored object's value at the same place (same name and kind),
 * written as a one-line JSON string so every line of the body stays where it was for error messages. A REDACTED
 * secret with no stored value is an error at its line: the marker is never stored as a secret.
 */
export function restoreRedacted(text: string, store: ObjectStore): string {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter });
  const [doc, ...rest] = docs;
  // Several documents or broken YAML: the usual body checks say so.
  if (doc === undefined || rest.length > 0 || doc.errors.length > 0) return text;
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (!isRecord(data) || typeof data["kind"] !== "string") return text;
  const kind = data["kind"];
  const marked = secretPaths(kind, data).filter((path) => valueAt(data, path) === REDACTED);
  if (marked.length === 0) return text;
  const stored = typeof data["name"] === "string" ? store.get(data["name"]) : undefined;
  const storedData = stored?.object.kind === kind ? stored.object.data : undefined;
  const edits: { start: number; end: number; value: string }[] = [];
  const errors: ConfigError[] = [];
  for (const path of marked) {
    const value = valueAt(storedData, path);
    const node = doc.getIn(path, true);
    const range = isScalar(node) ? node.range : undefined;
    if (value === undefined || range === undefined || range === null) {
      const { line, column } = locate(doc, lineCounter, path, "value");
      const message = `'${REDACTED}' keeps a stored secret, but the stored ${kind} has none at ${formatPath(path)}; give the value`;
      errors.push({ file: REQUEST_FILE, line, column, path: formatPath(path), message });
      continue;
    }
    edits.push({ start: range[0], end: range[1], value: JSON.stringify(value) });
  }
  if (errors.length > 0) throw new InvalidObjectError(errors);
  let restored = text;
  for (const edit of edits.sort((a, b) => b.start - a.start)) {
    restored = restored.slice(0, edit.start) + edit.value + restored.slice(edit.end);
  }
  return restored;
}
