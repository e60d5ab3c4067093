import { readFile } from "node:fs/promises";
import { isMap, parseAllDocuments } from "yaml";
import { keepsStoredSecrets } from "../admin/secrets.js";
import type { ConfigError } from "../config/errors.js";
import { formatConfigError } from "../config/errors.js";
import { parseObjects } from "../config/parse-objects.js";

/** One object of a file as `wsgate apply` sends it: its own text, and where that text starts in the file. */
export interface FileObject {
  kind: string;
  name: string;
  text: string;
  /** Lines before the object's text in the file: the server's "request:3" is FILE:(3 + lineOffset). */
  lineOffset: number;
}

/** Settings first, then pipelines, then the servers that name them: each object is valid when it arrives. */
const APPLY_ORDER = ["Gateway", "Pipeline", "HTTPServer"];

/**
 * The objects of a file, checked as `wsgate validate` checks each one alone (references between objects are the
 * server's to check, against what it holds). Throws with every error placed in the file.
 */
export async function readFileObjects(file: string): Promise<FileObject[]> {
  const text = await readFile(file, "utf8");
  const docs = parseAllDocuments(text);
  // An object that keeps stored secrets ("<redacted>", as `get` shows them) is checked by the server, which has them.
  const serverChecked = docs.flatMap((doc) => {
    const range = doc.contents?.range;
    if (doc.errors.length > 0 || range === undefined || !keepsStoredSecrets(doc.toJS({ maxAliasCount: 100 })))
      return [];
    return [{ from: lineOf(text, range[0]), to: lineOf(text, range[2]) }];
  });
  const errors = parseObjects(text, file).errors.filter(
    (error) => !serverChecked.some(({ from, to }) => error.line >= from && error.line <= to),
  );
  if (errors.length > 0) throw new FileObjectsError(errors);
  const objects: FileObject[] = [];
  for (const doc of docs) {
    const contents = doc.contents;
    if (!isMap(contents) || contents.range === undefined || contents.range === null) continue;
    const [start, , end] = contents.range;
    const kind = String(contents.get("kind"));
    const name = String(contents.get("name"));
    const lineOffset = text.slice(0, start).split("\n").length - 1;
    objects.push({ kind, name, text: text.slice(start, end), lineOffset });
  }
  const rank = (kind: string): number => APPLY_ORDER.indexOf(kind);
  return objects.sort((a, b) => rank(a.kind) - rank(b.kind));
}

/** The 1-based line of `offset` in `text`. */
function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split("\n").length;
}

export class FileObjectsError extends Error {
  constructor(readonly errors: readonly ConfigError[]) {
    super(errors.map(formatConfigError).join("\n"));
  }
}
