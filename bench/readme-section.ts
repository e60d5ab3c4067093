/**
 * The benchmark section of docs/performance.md: what the last bench run wrote between `<!-- bench:start -->` and
 * `<!-- bench:end -->`. Only that span is rewritten; the rest of the page is not the bench's to touch.
 */
import { readFileSync, writeFileSync } from "node:fs";

const START = "<!-- bench:start -->";
const END = "<!-- bench:end -->";

/** `readme` with the span between the markers replaced by `body`; undefined when the markers are missing. */
export function withBenchSection(readme: string, body: string): string | undefined {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) return undefined;
  return `${readme.slice(0, start + START.length)}\n${body.trim()}\n${readme.slice(end)}`;
}

/** Rewrites the section in the page at `path`; returns what happened, for the run's log. */
export function updateReadme(path: string, body: string): string {
  let readme: string;
  try {
    readme = readFileSync(path, "utf8");
  } catch (error) {
    return `${path} not updated: ${(error as Error).message}`;
  }
  const updated = withBenchSection(readme, body);
  if (updated === undefined) return `${path} not updated: no ${START} … ${END} markers`;
  if (updated === readme) return `${path}: benchmark section unchanged`;
  writeFileSync(path, updated);
  return `${path}: benchmark section updated`;
}
