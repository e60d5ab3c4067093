// Matching a health check answer against `match`: status ranges, headers, body. Each returns why it failed.
import type { IncomingHttpHeaders } from "node:http";
import type { BodyMatchSpec, HeaderMatchSpec, StatusRange } from "./types.js";

export function statusProblem(status: number, ranges: readonly StatusRange[]): string | undefined {
  if (ranges.some(([low, high]) => status >= low && status <= high)) return undefined;
  const expected = ranges.map(([low, high]) => (low === high ? `${low}` : `${low}-${high}`)).join(", ");
  return `status ${status} (expected ${expected})`;
}

/** Compiled header rules; regular expressions are compiled once (the schema has checked they compile). */
export class HeaderRules {
  readonly #rules: ReadonlyArray<{ spec: HeaderMatchSpec; lower: string; regexp: RegExp | undefined }>;

  constructor(specs: readonly HeaderMatchSpec[]) {
    this.#rules = specs.map((spec) => ({
      spec,
      lower: spec.name.toLowerCase(),
      regexp: spec.type === "regexp" && spec.value !== "" ? new RegExp(spec.value) : undefined,
    }));
  }

  problem(headers: IncomingHttpHeaders): string | undefined {
    for (const { spec, lower, regexp } of this.#rules) {
      const raw = headers[lower];
      const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
      if (values.length === 0) return `header ${spec.name} missing`;
      if (spec.value === "") continue;
      const ok = values.some((value) => (regexp === undefined ? value === spec.value : regexp.test(value)));
      if (!ok) {
        const how = regexp === undefined ? "expected" : "expected to match";
        return `header ${spec.name} is ${quote(values.join(", "))} (${how} ${quote(spec.value)})`;
      }
    }
    return undefined;
  }
}

export class BodyRule {
  readonly #spec: BodyMatchSpec;
  readonly #regexp: RegExp | undefined;

  constructor(spec: BodyMatchSpec) {
    this.#spec = spec;
    this.#regexp = spec.type === "regexp" ? new RegExp(spec.value) : undefined;
  }

  problem(body: string): string | undefined {
    const ok = this.#regexp === undefined ? body.includes(this.#spec.value) : this.#regexp.test(body);
    if (ok) return undefined;
    return this.#regexp === undefined
      ? `body does not contain ${quote(this.#spec.value)}`
      : `body does not match ${quote(this.#spec.value)}`;
  }
}

/** Quoted and cut short: a backend's answer goes into a log line. */
function quote(text: string): string {
  const short = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return `'${short}'`;
}
