/**
 * `npm run fuzz`: the property tests of test/fuzz (frame relay at unit level, and end to end through the CLI),
 * run for longer than `npm test` does: round after round, each with a fresh seed and many more cases, until the
 * time is up. It stops by itself; a failing round prints the seed and the command that replays it, and exits 1.
 *
 *   node dist/bench/fuzz.js [--minutes N] [--runs N] [--seed N]
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FUZZ_DIR = join(PACKAGE_ROOT, "dist/test/fuzz");
/** The longest a run may be asked to last: the script must end by itself. */
const MAX_MINUTES = 24 * 60;

const USAGE = `Usage: node dist/bench/fuzz.js [options]

  --minutes N   how long to fuzz, in all (default 2, at most ${MAX_MINUTES})
  --runs N      cases per property and round (default 500)
  --seed N      run one round with this seed (to replay a failure), then stop
  --help
`;

function options(): { minutes: number; runs: number; seed: number | undefined } {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string", default: "2" },
      runs: { type: "string", default: "500" },
      seed: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const minutes = Number(values.minutes);
  const runs = Number(values.runs);
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (!(minutes > 0 && minutes <= MAX_MINUTES)) throw new Error(`--minutes must be in (0, ${MAX_MINUTES}]`);
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a positive integer");
  if (seed !== undefined && !Number.isInteger(seed)) throw new Error("--seed must be an integer");
  return { minutes, runs, seed };
}

/** Runs the fuzz test files once with `seed`; resolves with the exit code (null when killed at the deadline). */
function round(files: string[], seed: number, runs: number, timeLimitMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--test", "--test-reporter=dot", ...files], {
      stdio: "inherit",
      env: {
        ...process.env,
        WSGATE_SEED: String(seed),
        WSGATE_FUZZ_RUNS: String(runs),
        // Each property stops taking new cases a little before the round's time is up.
        WSGATE_FUZZ_TIME_MS: String(Math.max(1000, Math.floor(timeLimitMs / files.length) - 2000)),
      },
    });
    const killer = setTimeout(() => child.kill("SIGKILL"), timeLimitMs + 30_000);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve(code);
    });
  });
}

async function main(): Promise<void> {
  const { minutes, runs, seed } = options();
  const files = readdirSync(FUZZ_DIR)
    .filter((name) => name.endsWith(".property.test.js"))
    .map((name) => join(FUZZ_DIR, name));
  if (files.length === 0) throw new Error(`no property tests in ${FUZZ_DIR} (run npm run build first)`);
  const deadline = Date.now() + minutes * 60_000;
  let rounds = 0;
  do {
    const roundSeed = seed ?? Math.floor(Math.random() * 2 ** 31);
    const left = deadline - Date.now();
    process.stdout.write(`\nfuzz round ${++rounds}: seed ${roundSeed}, ${runs} cases per property\n`);
    const code = await round(files, roundSeed, runs, Math.max(left, 10_000));
    if (code !== 0) {
      process.stdout.write(
        `\nfuzz round ${rounds} failed (exit ${String(code)}). Replay it with:\n` +
          `  WSGATE_SEED=${roundSeed} WSGATE_FUZZ_RUNS=${runs} node --test ${files.join(" ")}\n` +
          `or: npm run fuzz -- --seed ${roundSeed} --runs ${runs}\n`,
      );
      process.exit(1);
    }
  } while (seed === undefined && Date.now() < deadline - 10_000);
  process.stdout.write(`\nfuzz: ${rounds} round(s) passed in ${minutes} minute(s)\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`fuzz: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
});
