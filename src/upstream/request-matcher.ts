// Which requests a candidate pool takes: Easegress's RequestMatcher (a pool's `filter`), as the reference defines it.

/** One string test: any of the set parts that matches is enough; `empty` matches an absent or empty value. */
export interface StringMatcherSpec {
  exact?: string;
  prefix?: string;
  regex?: string;
  empty?: boolean;
}

export interface UrlMatcherSpec {
  /** Accepted methods; empty accepts all. */
  methods: readonly string[];
  /** Tested against the request path (after rewriteTarget, without the query). */
  url: StringMatcherSpec;
}

export const REQUEST_MATCHER_POLICIES = ["general", "ipHash", "headerHash", "random"] as const;
export type RequestMatcherPolicy = (typeof REQUEST_MATCHER_POLICIES)[number];

export interface RequestMatcherSpec {
  /** general: headers and urls; the others take `permil` of the traffic, chosen by client IP, a header or chance. */
  policy: RequestMatcherPolicy;
  headers: Readonly<Record<string, StringMatcherSpec>>;
  urls: readonly UrlMatcherSpec[];
  /** Every header rule must match (default: any one). */
  matchAllHeaders: boolean;
  /** Share of requests, in thousandths, for ipHash, headerHash and random. */
  permil: number;
  headerHashKey?: string;
}

/** What a matcher looks at in a request. */
export interface MatchRequest {
  method: string;
  /** Path without the query. */
  path: string;
  /** Every value of each header, names in lower case (IncomingMessage.headersDistinct). */
  headers: NodeJS.Dict<string[]>;
  clientIp: string;
}

export interface RequestMatcher {
  matches(request: MatchRequest): boolean;
}

class StringMatcher {
  readonly #spec: StringMatcherSpec;
  readonly #regex: RegExp | undefined;

  constructor(spec: StringMatcherSpec) {
    this.#spec = spec;
    this.#regex = spec.regex === undefined || spec.regex === "" ? undefined : new RegExp(spec.regex);
  }

  matches(value: string): boolean {
    const spec = this.#spec;
    if (spec.empty === true && value === "") return true;
    if (spec.exact !== undefined && spec.exact !== "" && value === spec.exact) return true;
    if (spec.prefix !== undefined && spec.prefix !== "" && value.startsWith(spec.prefix)) return true;
    return this.#regex?.test(value) ?? false;
  }

  /** A header rule: an absent header is tested as the empty string, a repeated one passes if any value does. */
  matchesAny(values: readonly string[] | undefined): boolean {
    if (values === undefined || values.length === 0) return this.matches("");
    return values.some((value) => this.matches(value));
  }
}

class GeneralMatcher implements RequestMatcher {
  readonly #headers: ReadonlyArray<readonly [string, StringMatcher]>;
  readonly #matchAll: boolean;
  readonly #urls: ReadonlyArray<{ methods: ReadonlySet<string>; url: StringMatcher }>;

  constructor(spec: RequestMatcherSpec) {
    this.#headers = Object.entries(spec.headers).map(([name, rule]) => [name.toLowerCase(), new StringMatcher(rule)]);
    this.#matchAll = spec.matchAllHeaders;
    this.#urls = spec.urls.map((rule) => ({ methods: new Set(rule.methods), url: new StringMatcher(rule.url) }));
  }

  matches(request: MatchRequest): boolean {
    return this.#headersMatch(request) && this.#urlsMatch(request);
  }

  // Without header rules only the urls decide (Easegress insists on headers; a urls-only filter is allowed here).
  #headersMatch(request: MatchRequest): boolean {
    if (this.#headers.length === 0) return true;
    const test = ([name, rule]: readonly [string, StringMatcher]): boolean => rule.matchesAny(request.headers[name]);
    return this.#matchAll ? this.#headers.every(test) : this.#headers.some(test);
  }

  #urlsMatch(request: MatchRequest): boolean {
    if (this.#urls.length === 0) return true;
    return this.#urls.some(
      (rule) => (rule.methods.size === 0 || rule.methods.has(request.method)) && rule.url.matches(request.path),
    );
  }
}

/** 32-bit FNV-1 over UTF-8 bytes, as Easegress hashes for its probability matchers, so the same clients match. */
export function fnv1(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    hash = Math.imul(hash, 0x01000193);
    hash = (hash ^ byte) >>> 0;
  }
  return hash >>> 0;
}

class PermilMatcher implements RequestMatcher {
  constructor(
    readonly permil: number,
    readonly roll: (request: MatchRequest) => number,
  ) {}

  matches(request: MatchRequest): boolean {
    return this.roll(request) % 1000 < this.permil;
  }
}

/** Builds a pool's filter; `random` is injectable so tests can seed it. */
export function createRequestMatcher(spec: RequestMatcherSpec, random: () => number = Math.random): RequestMatcher {
  switch (spec.policy) {
    case "general":
      return new GeneralMatcher(spec);
    case "ipHash":
      // Hash the plain IPv4 form of IPv4-mapped addresses, as the ipHash balancer does.
      return new PermilMatcher(spec.permil, (request) => fnv1(plainIp(request.clientIp)));
    case "headerHash": {
      const name = (spec.headerHashKey ?? "").toLowerCase();
      return new PermilMatcher(spec.permil, (request) => fnv1(request.headers[name]?.[0] ?? ""));
    }
    case "random":
      return new PermilMatcher(spec.permil, () => Math.floor(random() * 1000));
    default:
      throw new Error(`filter: unknown policy ${JSON.stringify(spec.policy satisfies never)}`);
  }
}

function plainIp(clientIp: string): string {
  return clientIp.startsWith("::ffff:") && clientIp.includes(".") ? clientIp.slice(7) : clientIp;
}
