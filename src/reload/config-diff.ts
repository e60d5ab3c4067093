import { canonicalJson } from "../util/canonical-json.js";

/** What a new list of objects of one kind changes against the running ones, compared by their validated specs. */
export interface SpecDiff<Spec> {
  added: Spec[];
  updated: Spec[];
  unchanged: Spec[];
  /** Names of running objects the new list does not have. */
  deleted: string[];
}

/** `running` maps each running object's name to `specText` of its spec. */
export function diffSpecs<Spec extends { name: string }>(
  running: ReadonlyMap<string, string>,
  next: readonly Spec[],
): SpecDiff<Spec> {
  const diff: SpecDiff<Spec> = { added: [], updated: [], unchanged: [], deleted: [] };
  const names = new Set<string>();
  for (const spec of next) {
    names.add(spec.name);
    const current = running.get(spec.name);
    if (current === undefined) diff.added.push(spec);
    else if (current === specText(spec)) diff.unchanged.push(spec);
    else diff.updated.push(spec);
  }
  for (const name of running.keys()) if (!names.has(name)) diff.deleted.push(name);
  return diff;
}

/** The text two specs are compared by: equal data, equal text. */
export function specText(spec: unknown): string {
  return canonicalJson(spec);
}
