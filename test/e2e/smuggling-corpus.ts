// A generated corpus of odd and malformed HTTP/1.x requests for the request-smuggling differential test
// (proxy-smuggling.test.ts): body framings × Connection lists × methods × Expect × HTTP versions × pipelines, on
// Proxy routes. Every body is itself a complete request (the bait): forwarded unframed, the backend would read it as
// a request of its own, which no answer of the gateway claims.

/** What the gateway must do with the variant request (HTTP/1.1, no Expect it refuses); "either" pins nothing. */
export type Outcome = "forwarded" | "refused" | "either";

interface Framing {
  name: string;
  /** Header lines that frame `body`. */
  headers: (body: string) => string[];
  /** The bytes after the head. */
  payload: (body: string) => string;
  outcome: Outcome;
  /** The framing makes an upgrade: its own Connection header replaces the case's list. */
  connection?: string;
  /** Requests the framing itself adds behind the variant (bytes past its body). */
  extraRequests?: number;
}

const WEBSOCKET_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const UPGRADE_HEADERS = ["Upgrade: websocket", `Sec-WebSocket-Key: ${WEBSOCKET_KEY}`, "Sec-WebSocket-Version: 13"];

const hex = (text: string): string => Buffer.byteLength(text).toString(16);

/** `body` in two chunks. */
function chunks(body: string, size: (text: string) => string = hex, extension = "", end = "0\r\n\r\n"): string {
  const half = Math.floor(body.length / 2);
  const parts = [body.slice(0, half), body.slice(half)];
  return parts.map((part) => `${size(part)}${extension}\r\n${part}\r\n`).join("") + end;
}

const FRAMINGS: Framing[] = [
  { name: "no body", headers: () => [], payload: () => "", outcome: "forwarded" },
  { name: "Content-Length: 0", headers: () => ["Content-Length: 0"], payload: () => "", outcome: "forwarded" },
  {
    name: "Content-Length",
    headers: (body) => [`Content-Length: ${Buffer.byteLength(body)}`],
    payload: (body) => body,
    outcome: "forwarded",
  },
  {
    name: "Content-Length with leading zeros",
    headers: (body) => [`Content-Length: 000${Buffer.byteLength(body)}`],
    payload: (body) => body,
    outcome: "either",
  },
  {
    name: "Content-Length shorter than the bytes: a second request follows",
    headers: () => ["Content-Length: 5"],
    payload: (body) => `hello${body}`,
    outcome: "forwarded",
    extraRequests: 1,
  },
  {
    name: "chunked",
    headers: () => ["Transfer-Encoding: chunked"],
    payload: (body) => chunks(body),
    outcome: "forwarded",
  },
  {
    name: "chunked, upper-case hex sizes with leading zeros",
    headers: () => ["Transfer-Encoding: chunked"],
    payload: (body) => chunks(body, (text) => `000${hex(text).toUpperCase()}`),
    outcome: "forwarded",
  },
  {
    name: "chunked with chunk extensions",
    headers: () => ["Transfer-Encoding: chunked"],
    payload: (body) => chunks(body, hex, ";name=value;flag"),
    outcome: "forwarded",
  },
  {
    name: "chunked with trailers",
    headers: () => ["Transfer-Encoding: chunked", "Trailer: X-Trailer"],
    payload: (body) => chunks(body, hex, "", "0\r\nX-Trailer: t\r\n\r\n"),
    outcome: "forwarded",
  },
  {
    name: "Content-Length in the trailers",
    headers: () => ["Transfer-Encoding: chunked"],
    payload: (body) => chunks(body, hex, "", "0\r\nContent-Length: 0\r\n\r\n"),
    outcome: "refused",
  },
  {
    name: "chunked, empty",
    headers: () => ["Transfer-Encoding: chunked"],
    payload: () => "0\r\n\r\n",
    outcome: "forwarded",
  },
  {
    name: "Transfer-Encoding: CHUNKED",
    headers: () => ["Transfer-Encoding: CHUNKED"],
    payload: (body) => chunks(body),
    outcome: "forwarded",
  },
  {
    name: "Transfer-Encoding: gzip, chunked",
    headers: () => ["Transfer-Encoding: gzip, chunked"],
    payload: (body) => chunks(body),
    outcome: "refused",
  },
  {
    name: "Transfer-Encoding: chunked, gzip",
    headers: () => ["Transfer-Encoding: chunked, gzip"],
    payload: (body) => chunks(body),
    outcome: "refused",
  },
  {
    name: "Transfer-Encoding: identity",
    headers: () => ["Transfer-Encoding: identity"],
    payload: (body) => body,
    outcome: "refused",
  },
  {
    name: "Transfer-Encoding: xchunked",
    headers: () => ["Transfer-Encoding: xchunked"],
    payload: (body) => chunks(body),
    outcome: "refused",
  },
  {
    name: "two Transfer-Encoding: chunked lines",
    headers: () => ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
    payload: (body) => chunks(body),
    outcome: "refused",
  },
  {
    name: "Content-Length and Transfer-Encoding",
    headers: (body) => [`Content-Length: ${Buffer.byteLength(body)}`, "Transfer-Encoding: chunked"],
    payload: (body) => chunks(body),
    outcome: "refused",
  },
  {
    name: "Transfer-Encoding and Content-Length",
    headers: () => ["Transfer-Encoding: chunked", "Content-Length: 3"],
    payload: (body) => chunks(body),
    outcome: "refused",
  },
  {
    name: "two equal Content-Length lines",
    headers: (body) => [`Content-Length: ${Buffer.byteLength(body)}`, `Content-Length: ${Buffer.byteLength(body)}`],
    payload: (body) => body,
    outcome: "either",
  },
  {
    name: "two different Content-Length lines",
    headers: (body) => ["Content-Length: 3", `Content-Length: ${Buffer.byteLength(body)}`],
    payload: (body) => body,
    outcome: "refused",
  },
  {
    name: "Content-Length: n, n",
    headers: (body) => [`Content-Length: ${Buffer.byteLength(body)}, ${Buffer.byteLength(body)}`],
    payload: (body) => body,
    outcome: "refused",
  },
  {
    name: "Content-Length: +n",
    headers: (body) => [`Content-Length: +${Buffer.byteLength(body)}`],
    payload: (body) => body,
    outcome: "refused",
  },
  {
    name: "Content-Length over 2^53",
    headers: () => ["Content-Length: 9007199254740993"],
    payload: (body) => body,
    outcome: "refused",
  },
  {
    name: "space before the colon of Content-Length",
    headers: (body) => [`Content-Length : ${Buffer.byteLength(body)}`],
    payload: (body) => body,
    outcome: "refused",
  },
  {
    name: "space before the colon of Transfer-Encoding",
    headers: () => ["Transfer-Encoding : chunked"],
    payload: (body) => chunks(body),
    outcome: "refused",
  },
  {
    name: "Transfer-Encoding folded (obs-fold)",
    headers: () => ["Transfer-Encoding:", " chunked"],
    payload: (body) => chunks(body),
    outcome: "either",
  },
  {
    name: "Content-Length folded (obs-fold)",
    headers: (body) => ["X-Pad: a", ` Content-Length: ${Buffer.byteLength(body)}`],
    payload: (body) => body,
    outcome: "either",
  },
  {
    name: "chunk size over 64 bits",
    headers: () => ["Transfer-Encoding: chunked"],
    payload: (body) => `FFFFFFFFFFFFFFFFFFFF\r\n${body}\r\n0\r\n\r\n`,
    outcome: "refused",
  },
  {
    name: "chunk lines ended by bare LF",
    headers: () => ["Transfer-Encoding: chunked"],
    payload: (body) => `${hex(body)}\n${body}\n0\n\n`,
    outcome: "either",
  },
  {
    name: "upgrade with a body",
    headers: (body) => [...UPGRADE_HEADERS, `Content-Length: ${Buffer.byteLength(body)}`],
    payload: (body) => body,
    outcome: "refused",
    connection: "Upgrade",
  },
  {
    name: "upgrade to h2c with a chunked body",
    headers: () => ["Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__", "Transfer-Encoding: chunked"],
    payload: (body) => chunks(body),
    outcome: "refused",
    connection: "Upgrade, HTTP2-Settings",
  },
];

/** `Connection` lists a client might send to make the gateway drop a header; undefined: no Connection header. */
const CONNECTION_LISTS: Array<string | undefined> = [
  undefined,
  "keep-alive",
  "close",
  "content-length",
  "Content-Length, keep-alive",
  "transfer-encoding",
  "host",
  "x-forwarded-for, x-forwarded-host, x-forwarded-proto",
  "authorization, cookie",
  "upgrade",
  "expect",
  "te, trailer, keep-alive",
  "content-length, transfer-encoding, host, x-forwarded-for",
];

const METHODS = ["GET", "HEAD", "DELETE", "OPTIONS", "POST", "PUT", "PATCH"];

/** `Expect` values; "whatever" is one the gateway answers with 417. */
const EXPECTS: Array<string | undefined> = [undefined, "100-continue", "100-Continue", "whatever"];

/** Where the variant request (V) sits among plain ones; UP is a WebSocket upgrade, SLOW a request answered late. */
const PIPELINES: ReadonlyArray<readonly Slot[]> = [
  ["V"],
  ["V", "GET"],
  ["V", "UP"],
  ["SLOW", "V"],
  ["SLOW", "V", "UP"],
  ["V", "HEAD", "GET"],
  ["V", "UPBODY"],
  ["V", "SLOW", "UP"],
];

type Slot = "V" | "GET" | "HEAD" | "SLOW" | "UP" | "UPBODY";

/** Route prefixes of the test's gateway: Proxy only, Proxy with rewriteTarget, Proxy next to a WebSocketProxy. */
export const ROUTES = ["/p", "/rw", "/both"] as const;

export interface SmuggleCase {
  id: number;
  name: string;
  bytes: Buffer;
  /** Method of each request in order, to read answers to HEAD. */
  methods: string[];
  /** Final answers a well-behaved gateway gives when it serves everything. */
  expectedAnswers: number;
  /** The variant request's marker (`c<id>/r<slot>`) and what must become of it. */
  variant: { marker: string; outcome: Outcome };
}

interface Dimensions {
  framing: Framing;
  connection: string | undefined;
  method: string;
  expect: string | undefined;
  pipeline: readonly Slot[];
  route: (typeof ROUTES)[number];
  version: "1.0" | "1.1";
}

const COMMON_HEADERS = ["Host: gw.test", "Authorization: Bearer smuggle-test", "Cookie: session=1"];

function message(method: string, target: string, version: string, headers: string[], payload: string): string {
  return `${method} ${target} HTTP/${version}\r\n${headers.map((line) => `${line}\r\n`).join("")}\r\n${payload}`;
}

function buildCase(id: number, d: Dimensions): SmuggleCase {
  const methods: string[] = [];
  let bytes = "";
  let marker = "";
  d.pipeline.forEach((slot, index) => {
    const target = `${d.route}/c${id}/r${index}`;
    // The bait is addressed past the route's rewrite: seen raw by the backend, it matches no request sent.
    const bait = `GET ${d.route}/c${id}/bait HTTP/1.1\r\nHost: bait\r\n\r\n`;
    if (slot === "V") {
      marker = `c${id}/r${index}`;
      const headers = [...COMMON_HEADERS];
      const connection = d.framing.connection ?? d.connection;
      if (connection !== undefined) headers.push(`Connection: ${connection}`);
      if (d.expect !== undefined) headers.push(`Expect: ${d.expect}`);
      headers.push(...d.framing.headers(bait));
      bytes += message(d.method, target, d.version, headers, d.framing.payload(bait));
      methods.push(d.method);
      for (let extra = 0; extra < (d.framing.extraRequests ?? 0); extra++) methods.push("GET");
    } else if (slot === "GET" || slot === "HEAD") {
      bytes += message(slot, target, "1.1", COMMON_HEADERS, "");
      methods.push(slot);
    } else if (slot === "SLOW") {
      bytes += message("GET", `${target}/slow`, "1.1", COMMON_HEADERS, "");
      methods.push("GET");
    } else {
      const headers = [...COMMON_HEADERS, ...UPGRADE_HEADERS, "Connection: Upgrade"];
      if (slot === "UPBODY") headers.push(`Content-Length: ${Buffer.byteLength(bait)}`);
      bytes += message("GET", target, "1.1", headers, slot === "UPBODY" ? bait : "");
      methods.push("GET");
    }
  });
  // Only HTTP/1.1 with an Expect the gateway takes pins the outcome; the rest are checked for consistency alone.
  const pinned = d.version === "1.1" && d.expect !== "whatever";
  const name =
    `#${id} ${d.method} ${d.framing.name}; Connection: ${d.connection ?? "-"}; Expect: ${d.expect ?? "-"}; ` +
    `HTTP/${d.version}; ${d.pipeline.join(" ")} on ${d.route}`;
  return {
    id,
    name,
    bytes: Buffer.from(bytes, "latin1"),
    methods,
    expectedAnswers: methods.length,
    variant: { marker, outcome: pinned ? d.framing.outcome : "either" },
  };
}

/**
 * The corpus: every framing with every Connection list, then every framing with every method; the other dimensions
 * rotate with the indices so that each value meets many others.
 */
export function smugglingCorpus(): SmuggleCase[] {
  const cases: SmuggleCase[] = [];
  const pick = <T>(values: readonly T[], index: number): T => values[index % values.length] as T;
  FRAMINGS.forEach((framing, f) => {
    CONNECTION_LISTS.forEach((connection, c) => {
      cases.push(
        buildCase(cases.length, {
          framing,
          connection,
          method: pick(METHODS, f + c),
          expect: pick(EXPECTS, f + 2 * c),
          pipeline: pick(PIPELINES, 3 * f + c),
          route: pick(ROUTES, f + c),
          version: (f + c) % 9 === 4 ? "1.0" : "1.1",
        }),
      );
    });
    METHODS.forEach((method, m) => {
      cases.push(
        buildCase(cases.length, {
          framing,
          connection: pick(CONNECTION_LISTS, 5 * f + m + 3),
          method,
          expect: pick(EXPECTS, f + m + 1),
          pipeline: pick(PIPELINES, f + 2 * m + 1),
          route: pick(ROUTES, f + m + 2),
          version: (f + m) % 7 === 3 ? "1.0" : "1.1",
        }),
      );
    });
  });
  return cases;
}
