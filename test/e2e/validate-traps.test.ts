// Migration traps that `wsgate validate` catches, through the real CLI, as users meet them when they copy configs
// from Easegress's pages or Seam's wsfw plugin: a server URL with a path (warned, still valid), an empty config, path
// rules with two conditions, a filter written as a document of its own, and certificate files that `run` would
// refuse. Each case checks the exit code and every line the CLI prints, file:line object field included.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

const CLI = fileURLToPath(new URL("../../src/cli.js", import.meta.url));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `wsgate validate` in `cwd` (files named relative to it, as a user types them), killed after 10 s. */
function validate(cwd: string, paths: string[]): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, "validate", ...paths], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<CliRun>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  return withTimeout(exited, 10_000, "wsgate validate to exit").catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
}

/** The 1-based line of the first line of `text` containing `needle` (`nth` counts further matches). */
function lineOf(text: string, needle: string, nth = 0): number {
  const lines = text.split("\n");
  const found = lines.flatMap((line, index) => (line.includes(needle) ? [index + 1] : []))[nth];
  assert.ok(found !== undefined, `no line with ${JSON.stringify(needle)} in:\n${text}`);
  return found;
}

const ROUTE = "      - pathPrefix: /\n        backend: ws\n";

function server(options: { paths?: string; tls?: string } = {}): string {
  return (
    "kind: HTTPServer\nname: edge\nport: 18080\naddress: 127.0.0.1\n" +
    (options.tls ?? "") +
    `rules:\n  - paths:\n${options.paths ?? ROUTE}`
  );
}

function pipeline(servers: string, poolExtra = ""): string {
  return (
    "kind: Pipeline\nname: ws\nflow:\n  - filter: proxy\nfilters:\n  - kind: WebSocketProxy\n    name: proxy\n" +
    `    pools:\n      - servers:\n${servers}${poolExtra}`
  );
}

const url = (text: string): string => `          - url: ${text}\n`;

function config(options: { paths?: string; tls?: string; servers?: string; poolExtra?: string } = {}): string {
  return `${server(options)}---\n${pipeline(options.servers ?? url("ws://127.0.0.1:9095"), options.poolExtra)}`;
}

/** A case: files to write (name → text), the paths given to validate, and what the CLI must print. */
interface TrapCase {
  name: string;
  files: Record<string, string>;
  /** Default: every file written. */
  args?: string[];
  code: 0 | 1;
  /** Every stderr line, in order (the count line of several errors included). */
  stderr: (files: Record<string, string>) => string[];
}

const URL_WARNING = (path: string): string =>
  `warning: the path '${path}' of this URL is not used: the backend gets the client's request path. ` +
  `To send '${path}' to the backend, set rewriteTarget: ${path} on the HTTPServer path rule and drop it here; ` +
  "otherwise just drop it (health checks without a uri use it)";

function urlCase(name: string, written: string, unused: string): TrapCase {
  return {
    name,
    files: { "gateway.yaml": config({ servers: url(written) }) },
    code: 0,
    stderr: (files) => [
      `gateway.yaml:${lineOf(files["gateway.yaml"]!, written)} pipeline ws filter proxy pools[0].servers[0].url: ${URL_WARNING(unused)}`,
    ],
  };
}

const URL_CASES: TrapCase[] = [
  // Seam's wsfw plugin: upstreamEndpoint: "ws://localhost:8080/ws".
  urlCase("Seam's upstreamEndpoint ws://localhost:8080/ws", "ws://localhost:8080/ws", "/ws"),
  urlCase("a quoted URL with a path", '"ws://localhost:8080/ws"', "/ws"),
  urlCase("a wss URL with a deeper path", "wss://backend.example:443/socket/v1", "/socket/v1"),
  urlCase("an http URL (Easegress's spelling) with a path", "http://127.0.0.1:9095/chat", "/chat"),
  urlCase("a URL with a query and no path", "ws://127.0.0.1:9095?room=1", "?room=1"),
  urlCase("a URL with a path and a query", "ws://127.0.0.1:9095/ws?room=1", "/ws?room=1"),
  urlCase("a trailing path slash past the root", "ws://127.0.0.1:9095/ws/", "/ws/"),
  {
    name: "every server of every pool is looked at, each warned once",
    files: {
      "gateway.yaml": config({
        servers: url("ws://127.0.0.1:9095") + url("ws://127.0.0.1:9096/a"),
        poolExtra:
          "      - filter:\n          policy: random\n          permil: 10\n        servers:\n" +
          url("ws://127.0.0.1:9097/b"),
      }),
    },
    code: 0,
    stderr: (files) => [
      `gateway.yaml:${lineOf(files["gateway.yaml"]!, "9096/a")} pipeline ws filter proxy pools[0].servers[1].url: ${URL_WARNING("/a")}`,
      `gateway.yaml:${lineOf(files["gateway.yaml"]!, "9097/b")} pipeline ws filter proxy pools[1].servers[0].url: ${URL_WARNING("/b")}`,
    ],
  },
  {
    name: "a root path and rewriteTarget on the route give no warning",
    files: {
      "gateway.yaml": config({
        paths: "      - path: /ws/chat\n        rewriteTarget: /ws\n        backend: ws\n",
        servers: url("ws://127.0.0.1:9095/"),
      }),
    },
    code: 0,
    stderr: () => [],
  },
];

const EMPTY = "no objects: the file is empty or holds only comments (expected an HTTPServer and a Pipeline)";

const EMPTY_CASES: TrapCase[] = [
  { name: "an empty file", files: { "gateway.yaml": "" }, code: 1, stderr: () => [`gateway.yaml: ${EMPTY}`] },
  {
    name: "a file of comments",
    files: { "gateway.yaml": "# HTTPServer goes here\n# Pipeline too\n" },
    code: 1,
    stderr: () => [`gateway.yaml: ${EMPTY}`],
  },
  {
    name: "a file of empty documents",
    files: { "gateway.yaml": "---\n# nothing\n---\n...\n" },
    code: 1,
    stderr: () => [`gateway.yaml: ${EMPTY}`],
  },
  {
    name: "a directory whose files are all empty names each file",
    files: { "conf.d/a.yaml": "\n", "conf.d/b.yml": "# later\n" },
    args: ["conf.d"],
    code: 1,
    stderr: () => [`conf.d/a.yaml: ${EMPTY}`, `conf.d/b.yml: ${EMPTY}`, "wsgate: 2 configuration errors"],
  },
  {
    name: "an empty directory",
    files: { "conf.d/README.txt": "not yaml\n" },
    args: ["conf.d"],
    code: 1,
    stderr: () => ["conf.d: directory has no .yaml or .yml files"],
  },
  {
    name: "an empty file beside one with objects is fine",
    files: { "conf.d/00-empty.yaml": "# placeholder\n", "conf.d/10-gateway.yaml": config() },
    args: ["conf.d"],
    code: 0,
    stderr: () => [],
  },
];

const ORED = (field: string, first: string): string =>
  `'${field}' and '${first}' on one path rule: a request matching either one is routed (they are ORed, as in Easegress); give each its own entry in paths`;

function pathCase(name: string, lines: string[], expected: Array<[field: string, first: string]>): TrapCase {
  const paths = `      - ${lines.join("\n        ")}\n        backend: ws\n`;
  return {
    name,
    files: { "gateway.yaml": config({ paths }) },
    code: 1,
    stderr: (files) => [
      ...expected.map(
        ([field, first]) =>
          `gateway.yaml:${lineOf(files["gateway.yaml"]!, `${field}:`)} httpserver edge rules[0].paths[0].${field}: ${ORED(field, first)}`,
      ),
      ...(expected.length > 1 ? [`wsgate: ${expected.length} configuration errors`] : []),
    ],
  };
}

const PATH_CASES: TrapCase[] = [
  pathCase("path with pathPrefix", ["path: /ws", "pathPrefix: /ws/"], [["pathPrefix", "path"]]),
  pathCase("pathPrefix written before path", ["pathPrefix: /ws/", "path: /ws"], [["pathPrefix", "path"]]),
  pathCase("path with pathRegexp", ["path: /ws", "pathRegexp: ^/ws/[0-9]+$"], [["pathRegexp", "path"]]),
  pathCase(
    "pathPrefix with pathRegexp",
    ["pathPrefix: /ws/", "pathRegexp: ^/ws/[0-9]+$"],
    [["pathRegexp", "pathPrefix"]],
  ),
  pathCase(
    "all three",
    ["path: /ws", "pathPrefix: /ws/", "pathRegexp: ^/ws/[0-9]+$"],
    [
      ["pathPrefix", "path"],
      ["pathRegexp", "path"],
    ],
  ),
  pathCase(
    "with rewriteTarget as well",
    ["path: /ws", "pathPrefix: /ws/", "rewriteTarget: /"],
    [["pathPrefix", "path"]],
  ),
  {
    name: "one condition per rule, in two rules, is fine",
    files: {
      "gateway.yaml": config({
        paths: "      - path: /ws\n        backend: ws\n      - pathPrefix: /ws/\n        backend: ws\n",
      }),
    },
    code: 0,
    stderr: () => [],
  },
];

/** Easegress's WebSocketProxy health-check snippet, as its documentation page writes it. */
const EASEGRESS_HEALTH_SNIPPET = `kind: WebSocketProxy
name: proxy-example-1
pools:
- servers:
  - url: ws://127.0.0.1:9095
  - url: ws://127.0.0.1:9096
  - url: ws://127.0.0.1:9097
  healthCheck:
    # interval between health checks (default: 60s)
    interval: 60s
    # timeout for health check response (default: 3s)
    timeout: 3s
    ws:
      port: 10080
      uri: /health/ws
    http:
      uri: /health
`;

function bareFilter(kind: string, name: string): string {
  return (
    `${kind} is a filter kind, not an object: a filter goes inside a Pipeline's filters: list; wrap it: ` +
    `{kind: Pipeline, name: ${name}-pipeline, flow: [{filter: ${name}}], filters: [{kind: ${kind}, name: ${name}, ...}]}, ` +
    `and point an HTTPServer path's backend at ${name}-pipeline`
  );
}

const BARE_FILTER_CASES: TrapCase[] = [
  {
    name: "Easegress's WebSocketProxy health-check snippet as a file",
    files: { "gateway.yaml": EASEGRESS_HEALTH_SNIPPET },
    code: 1,
    stderr: () => [`gateway.yaml:1 kind: ${bareFilter("WebSocketProxy", "proxy-example-1")}`],
  },
  {
    name: "the snippet pasted after a working config",
    files: { "gateway.yaml": `${config()}---\n${EASEGRESS_HEALTH_SNIPPET}` },
    code: 1,
    stderr: (files) => [
      `gateway.yaml:${lineOf(files["gateway.yaml"]!, "kind: WebSocketProxy", 1)} kind: ${bareFilter("WebSocketProxy", "proxy-example-1")}`,
    ],
  },
  ...["Proxy", "Validator", "RateLimiter", "WebSocketUpgradeCheck"].map((kind): TrapCase => ({
    name: `a bare ${kind}`,
    files: { "gateway.yaml": `name: my-${kind.toLowerCase()}\nkind: ${kind}\n` },
    code: 1,
    stderr: () => [`gateway.yaml:2 kind: ${bareFilter(kind, `my-${kind.toLowerCase()}`)}`],
  })),
  {
    name: "a bare filter without a usable name",
    files: { "gateway.yaml": "kind: WebSocketProxy\nname: 'not ok!'\n" },
    code: 1,
    stderr: () => [`gateway.yaml:1 kind: ${bareFilter("WebSocketProxy", "proxy")}`],
  },
  {
    name: "a kind that is neither keeps the plain message",
    files: { "gateway.yaml": "kind: HTTPProxy\nname: p\n" },
    code: 1,
    stderr: () => ["gateway.yaml:1 kind: unknown kind 'HTTPProxy' (expected one of Gateway, HTTPServer, Pipeline)"],
  },
];

describe("wsgate validate: migration traps", () => {
  let pki: TestPki;
  let good: CertFiles;
  let other: CertFiles;
  let expired: CertFiles;
  let dir: string;
  let broken: string;
  let count = 0;

  before(async () => {
    pki = await TestPki.create();
    [good, other, expired] = await Promise.all([
      pki.issue({ cn: "localhost" }),
      pki.issue({ cn: "other.test" }),
      pki.issue({ cn: "old.test", expired: true }),
    ]);
    dir = mkdtempSync(join(tmpdir(), "wsgate-validate-traps-"));
    broken = join(dir, "broken.pem");
    writeFileSync(broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await pki.cleanup();
  });

  /** Writes the case's files into a fresh directory, runs validate there, and checks code and output exactly. */
  async function check(trap: TrapCase): Promise<void> {
    const cwd = join(dir, `case-${++count}`);
    for (const [name, text] of Object.entries(trap.files)) {
      mkdirSync(dirname(join(cwd, name)), { recursive: true });
      writeFileSync(join(cwd, name), text);
    }
    const args = trap.args ?? Object.keys(trap.files);
    const run = await validate(cwd, args);
    const expected = trap.stderr(trap.files);
    assert.deepEqual(run.stderr.split("\n").filter(Boolean), expected, run.stderr);
    assert.equal(run.code, trap.code, run.stderr);
    assert.equal(run.stdout, trap.code === 0 ? `${args.join(", ")}: valid\n` : "");
  }

  describe("a server URL with a path: a warning, and the config is valid", { concurrency: 4 }, () => {
    for (const trap of URL_CASES) it(trap.name, () => check(trap));
  });

  describe("an empty config is an error naming the file(s)", { concurrency: 4 }, () => {
    for (const trap of EMPTY_CASES) it(trap.name, () => check(trap));
  });

  describe(
    "path, pathPrefix and pathRegexp on one path rule are an error at the later field",
    { concurrency: 4 },
    () => {
      for (const trap of PATH_CASES) it(trap.name, () => check(trap));
    },
  );

  describe("a filter as a document of its own gets the Pipeline to wrap it in", { concurrency: 4 }, () => {
    for (const trap of BARE_FILTER_CASES) it(trap.name, () => check(trap));
  });

  describe("certificate files are read as run reads them", { concurrency: 4 }, () => {
    const https = (cert: string, key: string, extra = ""): string =>
      `https: true\ncertFiles:\n  - certFile: ${cert}\n    keyFile: ${key}\n${extra}`;
    const at = (text: string, needle: string, field: string): string =>
      `gateway.yaml:${lineOf(text, needle)} httpserver edge ${field}`;
    const tlsCase = (
      name: string,
      tls: () => string,
      code: 0 | 1,
      lines: (text: string) => string[],
    ): [string, () => Promise<void>] => [
      name,
      () => {
        const text = config({ tls: tls() });
        return check({ name, files: { "gateway.yaml": text }, code, stderr: () => lines(text) });
      },
    ];
    const cases: Array<[string, () => Promise<void>]> = [
      tlsCase(
        "a valid pair",
        () => https(good.certFile, good.keyFile),
        0,
        () => [],
      ),
      tlsCase(
        "a missing certificate file",
        () => https(join(dir, "nope.crt"), good.keyFile),
        1,
        (text) => [
          `${at(text, "nope.crt", "certFiles[0].certFile")}: cannot read '${join(dir, "nope.crt")}': file not found`,
        ],
      ),
      tlsCase(
        "a missing key file",
        () => https(good.certFile, join(dir, "nope.key")),
        1,
        (text) => [
          `${at(text, "nope.key", "certFiles[0].keyFile")}: cannot read '${join(dir, "nope.key")}': file not found`,
        ],
      ),
      tlsCase(
        "a directory for a certificate",
        () => https(dir, good.keyFile),
        1,
        (text) => [`${at(text, `certFile: ${dir}`, "certFiles[0].certFile")}: cannot read '${dir}': is a directory`],
      ),
      tlsCase(
        "a certificate file that is not PEM",
        () => https(good.keyFile, good.keyFile),
        1,
        (text) => [
          `${at(text, "certFile:", "certFiles[0].certFile")}: '${good.keyFile}': no PEM certificate found (expected -----BEGIN CERTIFICATE-----)`,
        ],
      ),
      tlsCase(
        "a certificate whose PEM does not parse",
        () => https(broken, good.keyFile),
        1,
        (text) => [
          `${at(text, "broken.pem", "certFiles[0].certFile")}: '${broken}': not a valid PEM certificate (${pemReason(broken)})`,
        ],
      ),
      tlsCase(
        "a key that is not a key",
        () => https(good.certFile, good.certFile),
        1,
        (text) => [`${at(text, "keyFile:", "certFiles[0].keyFile")}: '${good.certFile}': ${keyReason(good.certFile)}`],
      ),
      tlsCase(
        "a key that does not match the certificate",
        () => https(good.certFile, other.keyFile),
        1,
        (text) => [
          `${at(text, "keyFile:", "certFiles[0].keyFile")}: '${other.keyFile}': does not match the certificate`,
        ],
      ),
      tlsCase(
        "the second pair of two",
        () => `${https(good.certFile, good.keyFile)}  - certFile: ${other.certFile}\n    keyFile: ${good.keyFile}\n`,
        1,
        (text) => [
          `gateway.yaml:${lineOf(text, `keyFile: ${good.keyFile}`, 1)} httpserver edge certFiles[1].keyFile: '${good.keyFile}': does not match the certificate`,
        ],
      ),
      tlsCase(
        "an expired certificate: a warning",
        () => https(expired.certFile, expired.keyFile),
        0,
        (text) => [
          `${at(text, "certFile:", "certFiles[0].certFile")}: warning: the certificate in '${expired.certFile}' expired on ${new Date(new X509Certificate(expired.cert).validTo).toISOString()}; peers will refuse it`,
        ],
      ),
      tlsCase(
        "a missing CA file",
        () => https(good.certFile, good.keyFile, `caCertFile: ${join(dir, "ca.pem")}\n`),
        1,
        (text) => [`${at(text, "caCertFile:", "caCertFile")}: cannot read '${join(dir, "ca.pem")}': file not found`],
      ),
      tlsCase(
        "a CA file without a certificate",
        () => https(good.certFile, good.keyFile, `caCertFile: ${good.keyFile}\n`),
        1,
        (text) => [
          `${at(text, "caCertFile:", "caCertFile")}: '${good.keyFile}': no PEM certificate found (expected -----BEGIN CERTIFICATE-----)`,
        ],
      ),
      tlsCase(
        "a CA file and a pair, valid",
        () => https(good.certFile, good.keyFile, `caCertFile: ${pki.ca.certFile}\n`),
        0,
        () => [],
      ),
    ];
    for (const [name, test] of cases) it(name, test);

    it("relative paths start at the working directory, as for run", async () => {
      const cwd = join(dir, "relative");
      mkdirSync(join(cwd, "tls"), { recursive: true });
      copyFileSync(good.certFile, join(cwd, "tls", "server.crt"));
      copyFileSync(good.keyFile, join(cwd, "tls", "server.key"));
      const text = config({ tls: https("tls/server.crt", "tls/missing.key") });
      writeFileSync(join(cwd, "gateway.yaml"), text);
      const run = await validate(cwd, ["gateway.yaml"]);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(
        run.stderr,
        `${at(text, "missing.key", "certFiles[0].keyFile")}: cannot read 'tls/missing.key': file not found\n`,
      );
      writeFileSync(join(cwd, "gateway.yaml"), config({ tls: https("tls/server.crt", "tls/server.key") }));
      const fixed = await validate(cwd, ["gateway.yaml"]);
      assert.equal(fixed.code, 0, fixed.stderr);
    });

    it("backend TLS files: a pool's missing CA, a server's mismatched client pair", async () => {
      const servers =
        url("wss://127.0.0.1:9095") +
        `            tls:\n              certFile: ${good.certFile}\n              keyFile: ${other.keyFile}\n`;
      const poolExtra = `        tls:\n          caFile: ${join(dir, "backend-ca.pem")}\n`;
      const text = config({ servers, poolExtra });
      const cwd = join(dir, "backend");
      mkdirSync(cwd, { recursive: true });
      writeFileSync(join(cwd, "gateway.yaml"), text);
      const run = await validate(cwd, ["gateway.yaml"]);
      assert.equal(run.code, 1, run.stderr);
      assert.deepEqual(run.stderr.split("\n").filter(Boolean), [
        `gateway.yaml:${lineOf(text, other.keyFile)} pipeline ws filter proxy pools[0].servers[0].tls.keyFile: '${other.keyFile}': does not match the certificate`,
        `gateway.yaml:${lineOf(text, "backend-ca.pem")} pipeline ws filter proxy pools[0].tls.caFile: cannot read '${join(dir, "backend-ca.pem")}': file not found`,
        "wsgate: 2 configuration errors",
      ]);
    });
  });
});

/** OpenSSL's own words for a PEM that does not parse, as Node reports them (they vary with the OpenSSL version). */
function pemReason(file: string): string {
  try {
    new X509Certificate(readText(file));
  } catch (error) {
    return (error as Error).message.replace(/^error:[0-9A-F]+:/i, "");
  }
  throw new Error(`${file} parsed`);
}

function keyReason(file: string): string {
  return `not a valid unencrypted PEM private key (${createKeyError(readText(file))})`;
}

function readText(file: string): string {
  return readFileSync(file, "utf8");
}

function createKeyError(pem: string): string {
  try {
    createPrivateKey(pem);
  } catch (error) {
    return (error as Error).message.replace(/^error:[0-9A-F]+:/i, "");
  }
  throw new Error("the key parsed");
}

describe("wsgate run logs the server-URL warning at start and on reload", () => {
  let gateway: GatewayProcess | undefined;

  after(async () => {
    await gateway?.stop();
  });

  it("once with trigger start, once per SIGHUP, and the config still serves", async () => {
    const port = await freePort();
    const text = config({ servers: url("ws://localhost:8080/ws") }).replace("port: 18080", `port: ${port}`);
    gateway = await GatewayProcess.start(text);
    const line = lineOf(text, "ws://localhost:8080/ws");
    const expected = `${gateway.configFile}:${line} pipeline ws filter proxy pools[0].servers[0].url: ${URL_WARNING("/ws")}`;
    const [atStart] = await gateway.logsMatching((entry) => entry["event"] === "config_warning");
    assert.equal(atStart?.msg, expected);
    assert.equal(atStart?.["trigger"], "start");
    assert.equal(atStart?.["level"], "warn");
    gateway.sighup();
    await gateway.logsMatching((entry) => entry["event"] === "config_applied");
    const warnings = gateway.logs.filter((entry) => entry["event"] === "config_warning");
    assert.deepEqual(
      warnings.map((entry) => [entry["trigger"], entry.msg]),
      [
        ["start", expected],
        ["SIGHUP", expected],
      ],
    );
  });

  it("run refuses an empty config with the same error as validate (exit 1)", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "wsgate-empty-run-"));
    try {
      writeFileSync(join(cwd, "gateway.yaml"), "# nothing yet\n");
      const child = spawn(process.execPath, [CLI, "run", "-c", "gateway.yaml", "--admin-address", "off"], {
        cwd,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await withTimeout(
        new Promise<number | null>((resolve) => child.on("close", resolve)),
        10_000,
        "wsgate run to exit",
      );
      assert.equal(code, 1);
      assert.equal(stderr, `gateway.yaml: ${EMPTY}\n`);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
