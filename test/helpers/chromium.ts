// Debian's Chromium driven by playwright-core for the dashboard's browser tests: headless, no sandbox (CI runs as
// root), nothing fetched from the network, and a fresh profile in a temp dir removed afterwards.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export const CHROMIUM = process.env.WSGATE_TEST_CHROMIUM ?? "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const LAUNCH_TIMEOUT_MS = 30_000;

/**
 * Why the browser tests cannot run here, or undefined when they can. Without Chromium they are skipped on a
 * developer's machine, but in CI (CI set) it must be there (.ci/run installs it), so there they run and fail loudly.
 */
export function chromiumMissing(): string | undefined {
  const works =
    existsSync(CHROMIUM) && spawnSync(CHROMIUM, ["--version"], { stdio: "ignore", timeout: 10_000 }).status === 0;
  if (works) return undefined;
  if (process.env.CI !== undefined && process.env.CI !== "") return undefined;
  return `'${CHROMIUM}' is not installed (apt-get install chromium, or set WSGATE_TEST_CHROMIUM); skipping browser tests`;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A persistent context on a fresh profile (the only kind that takes --user-data-dir); `extraArgs` go after ours. */
export async function launchChromium(
  viewport = { width: 1280, height: 900 },
  extraArgs: readonly string[] = [],
): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the dashboard tests need Debian's chromium (apt-get install chromium)`);
  }
  const profile = await mkdtemp(join(tmpdir(), "wsgate-chromium-"));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...ARGS, ...extraArgs],
      viewport,
      timeout: LAUNCH_TIMEOUT_MS,
    });
    context.setDefaultTimeout(10_000);
    return {
      context,
      close: async () => {
        await context.close().catch(() => undefined);
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}
