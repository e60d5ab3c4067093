// End to end: the wsgate command's help and usage errors as users meet them: every command's --help with examples,
// did-you-mean one-liners for typos, --version, validate FILE, --server HOST:PORT, completion scripts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { runCli } from "../helpers/admin.js";
import { freePort } from "../helpers/net.js";

const DEMO = fileURLToPath(new URL("../../../examples/demo.yaml", import.meta.url));
const PACKAGE = fileURLToPath(new URL("../../../package.json", import.meta.url));
const COMMANDS = [
  "run",
  "validate",
  "demo",
  "schema",
  "apply",
  "get",
  "describe",
  "delete",
  "sessions",
  "members",
  "completion",
  "help",
];

/** No line of a stack trace ("    at fn (file:line)") anywhere in what the CLI printed. */
function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, `no stack trace in:\n${text}`);
}

/** A usage error: exit 2, one line on stderr starting `wsgate: `, nothing on stdout. */
function assertOneLine(run: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(run.code, 2, run.stderr);
  assert.equal(run.stdout, "");
  const lines = run.stderr.split("\n").filter((line) => line !== "");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
  assert.match(lines[0] ?? "", /^wsgate: /);
  assert.match(lines[0] ?? "", pattern);
  assertNoStack(run.stderr);
}

// Each case is its own short process: they run side by side.
describe("wsgate COMMAND --help", { concurrency: 4 }, () => {
  for (const command of COMMANDS) {
    it(`${command} --help exits 0 with Usage, Options and an Examples section naming the command`, async () => {
      const run = await runCli([command, "--help"]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^wsgate ${command}: `));
      assert.match(run.stdout, /\nUsage:\n {2}wsgate /);
      assert.match(run.stdout, /\nOptions:\n/);
      const examples = run.stdout.split("\nExamples:\n")[1] ?? "";
      assert.ok(examples.includes(`wsgate ${command}`), `examples use wsgate ${command}:\n${run.stdout}`);
    });
  }

  it("-h is --help, and `wsgate help run` is `wsgate run --help`", async () => {
    const [short, long, viaHelp] = await Promise.all([
      runCli(["run", "-h"]),
      runCli(["run", "--help"]),
      runCli(["help", "run"]),
    ]);
    assert.equal(short.stdout, long.stdout);
    assert.equal(viaHelp.stdout, long.stdout);
  });

  it("--help lists every command, and no command's help lists flags it does not take", async () => {
    const overview = await runCli(["--help"]);
    assert.equal(overview.code, 0);
    for (const command of COMMANDS) assert.match(overview.stdout, new RegExp(`\\n {2}${command} +\\S`));
    const get = await runCli(["get", "--help"]);
    assert.doesNotMatch(get.stdout, /--watch|--config|--admin-token/);
    const run = await runCli(["run", "--help"]);
    assert.match(run.stdout, /--log-format FORMAT/);
    assert.doesNotMatch(run.stdout, /--server|--filename/);
  });
});

describe("wsgate usage errors: one line, a did-you-mean, exit 2", { concurrency: 4 }, () => {
  const typos: [string[], RegExp][] = [
    [["rn"], /unknown command 'rn'; did you mean 'run'\?/],
    [["valdate", "x.yaml"], /did you mean 'validate'\?/],
    [["sesions"], /did you mean 'sessions'\?/],
    [["dmeo"], /did you mean 'demo'\?/],
    [["mebers"], /did you mean 'members'\?/],
    [["frobnicate"], /^wsgate: unknown command 'frobnicate' \(wsgate --help lists them\)$/],
    [["run", "--wach", "-c", "x.yaml"], /unknown option --wach for wsgate run; did you mean --watch\?/],
    [["run", "--confg", "x.yaml"], /did you mean --config\?/],
    [["run", "--log-levl", "debug"], /did you mean --log-level\?/],
    [["demo", "--prot", "9000"], /did you mean --port\?/],
    [["get", "--sever", "127.0.0.1:1"], /did you mean --server\?/],
    [["apply", "--filname", "x.yaml"], /did you mean --filename\?/],
    [["sessions", "--clustr"], /did you mean --cluster\?/],
    [
      ["get", "--watch"],
      /^wsgate: unknown option --watch for wsgate get \(--watch is an option of wsgate run\) \(wsgate get --help\)$/,
    ],
    [["get", "-x"], /unknown option -x for wsgate get/],
    [["--config", "x.yaml"], /the command comes first/],
    [["run", "--config"], /argument missing/],
    [["validate"], /validate needs a FILE or DIR/],
    [
      ["run", "gateway.yaml"],
      /unexpected argument 'gateway\.yaml' for wsgate run; did you mean --config gateway\.yaml\?/,
    ],
    [["demo", "now"], /unexpected argument 'now' for wsgate demo \(wsgate demo --help\)/],
    [["completion", "fish"], /completion needs a shell: bash or zsh/],
    [["sessions", "shut", "abc"], /unknown sessions sub-command 'shut'/],
    [["run", "-c", "x.yaml", "--log-format", "xml"], /unknown log format 'xml'/],
    [["get", "--server", "ftp://127.0.0.1:1"], /speaks http:\/\/ or https:\/\//],
  ];
  for (const [args, pattern] of typos) {
    it(`wsgate ${args.join(" ")}`, async () => assertOneLine(await runCli(args), pattern));
  }
});

describe("wsgate --version, validate FILE, --server HOST:PORT, completion", { concurrency: 4 }, () => {
  const version = (JSON.parse(readFileSync(PACKAGE, "utf8")) as { version: string }).version;

  for (const flag of ["--version", "-V", "-v", "version"]) {
    it(`${flag} prints package.json's version`, async () => {
      const run = await runCli([flag]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `${version}\n`);
    });
  }

  it("validate takes files as positional arguments, alone or with --config", async () => {
    const positional = await runCli(["validate", DEMO]);
    assert.equal(positional.code, 0, positional.stderr);
    assert.equal(positional.stdout, `${DEMO}: valid\n`);
    const flag = await runCli(["validate", "--config", DEMO]);
    assert.equal(flag.code, 0, flag.stderr);
  });

  it("--server 127.0.0.1:PORT means http://127.0.0.1:PORT (the error names the URL it tried)", async () => {
    const port = await freePort();
    for (const server of [`127.0.0.1:${port}`, `http://127.0.0.1:${port}`]) {
      const run = await runCli(["get", "--server", server]);
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        new RegExp(`cannot reach the admin API at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`),
      );
      assertNoStack(run.stderr);
    }
  });

  it("completion bash is a script bash accepts, naming every command", async () => {
    const run = await runCli(["completion", "bash"]);
    assert.equal(run.code, 0, run.stderr);
    for (const command of COMMANDS) assert.ok(run.stdout.includes(command));
    assert.match(run.stdout, /complete -o default -F _wsgate wsgate/);
    const check = spawnSync("bash", ["-n"], { input: run.stdout, encoding: "utf8" });
    assert.equal(check.status, 0, check.stderr);
  });

  it("completion bash completes commands, a command's flags and a flag's values", async () => {
    const script = (await runCli(["completion", "bash"])).stdout;
    const complete = (line: string): string[] => {
      const words = line.split(" ");
      const program = `${script}\nCOMP_WORDS=(${words.map((word) => `'${word}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _wsgate; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const result = spawnSync("bash", ["-c", program], { encoding: "utf8" });
      return result.stdout.split("\n").filter((word) => word !== "");
    };
    assert.deepEqual(complete("wsgate va"), ["validate"]);
    assert.deepEqual(complete("wsgate run --wa"), ["--watch"]);
    assert.deepEqual(complete("wsgate run --log-format "), ["json", "pretty"]);
    assert.deepEqual(complete("wsgate get -o y"), ["yaml"]);
    assert.deepEqual(complete("wsgate sessions cl"), ["close"]);
  });

  it("completion zsh is a #compdef script naming every command", async () => {
    const run = await runCli(["completion", "zsh"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^#compdef wsgate\n/);
    for (const command of COMMANDS) assert.ok(run.stdout.includes(`'${command}:`));
    const zsh = spawnSync("zsh", ["-n"], { input: run.stdout, encoding: "utf8" });
    if (zsh.error === undefined) assert.equal(zsh.status, 0, zsh.stderr);
  });
});
