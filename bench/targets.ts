/**
 * What the bench measures: `direct` (the load generator talks to the echo backend) and the proxies, each started
 * from a config template under bench/targets/ (placeholders `${name}`, filled in at run time) as its own process.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The targets --targets chooses from. */
export const TARGET_NAMES = [
  "direct",
  "wsgate",
  "wsgate-aware",
  "wsgate-workers",
  "wsgate-policies",
  "nginx",
  "haproxy",
  "http-proxy",
] as const;
/**
 * Node's own floor (targets/node-floor.ts): a tunnel that parses nothing, over `net.Socket`s and over raw libuv
 * handles. Only when named in --targets: they are not proxies, they show what Node costs before a proxy's work.
 */
export const FLOOR_TARGET_NAMES = ["node-sockets", "node-handles"] as const;
/** wsgate and wsgate-aware run from an earlier build (--baseline DIR): present only with that option. */
export const BASELINE_TARGET_NAMES = ["wsgate-before", "wsgate-aware-before"] as const;
/** wsgate-aware with one dashboard stream open (--dashboard): present only with that option. */
export const DASHBOARD_TARGET = "wsgate-aware-dashboard";
/** wsgate with `http2: true` on its TLS listener, for the h2 section only (h2-scenarios.ts). */
export const H2_TARGET = "wsgate-h2";
export type TargetName =
  | (typeof TARGET_NAMES)[number]
  | (typeof FLOOR_TARGET_NAMES)[number]
  | (typeof BASELINE_TARGET_NAMES)[number]
  | typeof DASHBOARD_TARGET
  | typeof H2_TARGET;
export type ProxyName = Exclude<TargetName, "direct">;

const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TEMPLATES = join(PACKAGE_ROOT, "bench/targets");
const CLI = join(PACKAGE_ROOT, "dist/src/cli.js");
const HTTP_PROXY_SCRIPT = fileURLToPath(new URL("./targets/http-proxy.js", import.meta.url));
const NODE_FLOOR_SCRIPT = fileURLToPath(new URL("./targets/node-floor.js", import.meta.url));

/** What a proxy's config and command line are made from. */
export interface ProxySetup {
  port: number;
  backendPort: number;
  /** A temporary directory of this start: the filled-in config, pid file, nginx's temp paths. */
  dir: string;
  /** The open-file limit the proxy runs with (inherited); its connection limits are sized to fit in it. */
  maxFiles: number;
  /** The earlier checkout the `-before` targets run from (--baseline), absolute. */
  baseline: string | undefined;
  /** The admin listener's port, for the targets that have one (adminPort in their ProxyTarget). */
  adminPort?: number | undefined;
  /** wss:// scenarios: terminate TLS with these files (the target's `tlsTemplate`). */
  tls?: TlsFiles | undefined;
}

/** The wss:// scenarios' certificate files (tls-certs.ts). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  pemFile: string;
}

interface ProxyTarget {
  description: string;
  /** A program that must be installed (not Node): looked up on PATH and in the sbin directories. */
  program?: string;
  /** The Debian package providing `program`, for --install. */
  aptPackage?: string;
  /** The config template in bench/targets/, when it has one. */
  template?: string;
  /** The same config terminating TLS, for the wss:// scenarios. */
  tlsTemplate?: string;
  /** It terminates TLS from `setup.tls` on its command line, having no config file. */
  tlsOnCommandLine?: boolean;
  /** The command line; `config` is the filled-in template's path, `program` the resolved program. */
  command(setup: ProxySetup, config: string, program: string): string[];
  /** How long a SIGTERM may take before SIGKILL (wsgate drains for up to 10 s by default). */
  stopGraceMs: number;
  /** It serves the admin API on 127.0.0.1:adminPort (token: BENCH_ADMIN_TOKEN, from the environment). */
  admin?: boolean;
}

/**
 * wsgate as users start it, without the admin API (its default port may be taken by a gateway running here);
 * `cli` is this checkout's unless a baseline build's is given.
 */
export function wsgateCommand(config: string, cli = CLI, extra: readonly string[] = []): string[] {
  const admin = extra.includes("--admin-address") ? [] : ["--admin-address", "off"];
  return [process.execPath, cli, "run", "--config", config, "--log-level", "warn", ...admin, ...extra];
}

/** The CLI of a baseline checkout (--baseline DIR), which must have been built there. */
export function baselineCli(dir: string): string {
  return join(dir, "dist/src/cli.js");
}

function baselineCommand(setup: ProxySetup, config: string): string[] {
  if (setup.baseline === undefined) throw new Error("the -before targets need --baseline DIR");
  return wsgateCommand(config, baselineCli(setup.baseline));
}

const PROXIES: Record<ProxyName, ProxyTarget> = {
  wsgate: {
    description: "client → wsgate (default limits) → backend",
    template: "wsgate.yaml",
    tlsTemplate: "wsgate-tls.yaml",
    command: (_setup, config) => wsgateCommand(config),
    stopGraceMs: 12_000,
  },
  "wsgate-aware": {
    description:
      "client → wsgate with pingInterval 5s, pongTimeout 10s, maxInactivity 300s, client/serverMaxMsgSize 1 MiB → backend",
    template: "wsgate-aware.yaml",
    tlsTemplate: "wsgate-aware-tls.yaml",
    command: (_setup, config) => wsgateCommand(config),
    stopGraceMs: 12_000,
  },
  // Two workers (node:cluster) behind a primary; pinned, all three share the proxy's one core (workers-model.ts).
  "wsgate-workers": {
    description: "client → wsgate-aware's config with --workers 2 (node:cluster: a primary and two workers) → backend",
    template: "wsgate-aware.yaml",
    command: (_setup, config) => wsgateCommand(config, CLI, ["--workers", "2"]),
    stopGraceMs: 12_000,
  },
  "wsgate-policies": {
    description:
      "client → wsgate-aware plus per-message rate limits, frame limits and control-frame rates each way (set far above the load, never triggered), the frame deadline and a 24 h session deadline → backend",
    template: "wsgate-policies.yaml",
    command: (_setup, config) => wsgateCommand(config),
    stopGraceMs: 12_000,
  },
  // The same config as wsgate-aware, with the admin listener on and a dashboard stream open (dashboard-load.ts).
  "wsgate-aware-dashboard": {
    description: "wsgate-aware with its admin listener on and one dashboard stream open throughout (--dashboard)",
    template: "wsgate-aware.yaml",
    command: (setup, config) => wsgateCommand(config, CLI, ["--admin-address", `127.0.0.1:${setup.adminPort ?? 0}`]),
    stopGraceMs: 12_000,
    admin: true,
  },
  "wsgate-h2": {
    description: "client → wsgate (TLS, ALPN h2 and http/1.1 on one port, RFC 8441) → backend",
    template: "wsgate-h2.yaml",
    tlsTemplate: "wsgate-h2.yaml",
    command: (_setup, config) => wsgateCommand(config),
    stopGraceMs: 12_000,
  },
  // The same configs as the two above (this checkout's templates), run by the baseline build.
  "wsgate-before": {
    description: "wsgate's config, run by the baseline build (--baseline)",
    template: "wsgate.yaml",
    // The wss:// scenarios run the -before targets too: an A/B of TLS termination needs both builds in one run.
    tlsTemplate: "wsgate-tls.yaml",
    command: baselineCommand,
    stopGraceMs: 12_000,
  },
  "wsgate-aware-before": {
    description: "wsgate-aware's config, run by the baseline build (--baseline)",
    template: "wsgate-aware.yaml",
    tlsTemplate: "wsgate-aware-tls.yaml",
    command: baselineCommand,
    stopGraceMs: 12_000,
  },
  nginx: {
    description: "client → nginx (1 worker, proxy_http_version 1.1, Upgrade/Connection headers) → backend",
    program: "nginx",
    aptPackage: "nginx",
    template: "nginx.conf",
    tlsTemplate: "nginx-tls.conf",
    command: (setup, config, program) => [program, "-p", setup.dir, "-e", "stderr", "-c", config],
    stopGraceMs: 3000,
  },
  haproxy: {
    description: "client → HAProxy (mode http, 1 thread, timeout tunnel) → backend",
    program: "haproxy",
    aptPackage: "haproxy",
    template: "haproxy.cfg",
    tlsTemplate: "haproxy-tls.cfg",
    command: (_setup, config, program) => [program, "-db", "-f", config],
    stopGraceMs: 3000,
  },
  "http-proxy": {
    description: "client → node http-proxy (ws: true) → backend",
    command: (setup) => [process.execPath, HTTP_PROXY_SCRIPT, String(setup.port), String(setup.backendPort)],
    stopGraceMs: 3000,
  },
  "node-sockets": {
    description: "client → Node tunnel over net.Socket ('data' → write, parses nothing) → backend",
    command: (setup) => [
      process.execPath,
      NODE_FLOOR_SCRIPT,
      "sockets",
      String(setup.port),
      String(setup.backendPort),
      ...(setup.tls === undefined ? [] : [setup.tls.certFile, setup.tls.keyFile]),
    ],
    tlsOnCommandLine: true,
    stopGraceMs: 3000,
  },
  "node-handles": {
    description: "client → Node tunnel over raw libuv TCP handles (onread → writeBuffer, parses nothing) → backend",
    command: (setup) => [process.execPath, NODE_FLOOR_SCRIPT, "handles", String(setup.port), String(setup.backendPort)],
    stopGraceMs: 3000,
  },
};

/** Whether `name` can terminate TLS for the wss:// scenarios (direct is their plaintext reference). */
export function terminatesTls(name: TargetName): boolean {
  return name !== "direct" && (PROXIES[name].tlsTemplate !== undefined || PROXIES[name].tlsOnCommandLine === true);
}

export function describeTarget(name: TargetName): string {
  return name === "direct" ? "client → backend" : PROXIES[name].description;
}

/** Whether the target serves the admin API (and needs setup.adminPort). */
export function hasAdmin(name: ProxyName): boolean {
  return PROXIES[name].admin === true;
}

export function stopGraceMs(name: ProxyName): number {
  return PROXIES[name].stopGraceMs;
}

/** The path of an installed program, or undefined. nginx and haproxy live in /usr/sbin, often not on PATH. */
export function findProgram(name: string): string | undefined {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Why `name` cannot run here, or undefined when it can. */
export function missing(name: TargetName): string | undefined {
  if (name === "direct") return undefined;
  const program = PROXIES[name].program;
  if (program === undefined || findProgram(program) !== undefined) return undefined;
  const hint =
    PROXIES[name].aptPackage === undefined ? "" : ` (apt-get install ${PROXIES[name].aptPackage}, or --install)`;
  return `${name} skipped: ${program} is not installed${hint}`;
}

/** The Debian packages that --install would add for the targets asked for. */
export function packagesToInstall(names: readonly TargetName[]): string[] {
  return names.flatMap((name) => {
    if (name === "direct" || missing(name) === undefined) return [];
    const aptPackage = PROXIES[name].aptPackage;
    return aptPackage === undefined ? [] : [aptPackage];
  });
}

/** `apt-get install -y PACKAGES` (after `apt-get update` when the first try fails), with its output shown. */
export function installPackages(packages: readonly string[]): void {
  const install = (): void => {
    execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...packages], {
      stdio: ["ignore", "inherit", "inherit"],
      timeout: 300_000,
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  };
  try {
    install();
  } catch {
    execFileSync("apt-get", ["update"], { stdio: ["ignore", "inherit", "inherit"], timeout: 300_000 });
    install();
  }
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0]?.trim() ?? "";
}

/** A version line for the report: what the proxy says about itself; `baseline` is --baseline's directory. */
export function targetVersion(name: TargetName, baseline?: string): string {
  try {
    switch (name) {
      case "direct":
        return "—";
      case "wsgate":
      case "wsgate-aware":
      case "wsgate-workers":
      case "wsgate-policies":
      case "wsgate-aware-dashboard":
      case "wsgate-h2": {
        const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string };
        return baseline === undefined
          ? `wsgate ${pkg.version} (this checkout)`
          : `wsgate ${pkg.version} (this checkout, ${checkoutLabel(PACKAGE_ROOT)})`;
      }
      case "wsgate-before":
      case "wsgate-aware-before": {
        if (baseline === undefined) return "no --baseline";
        const pkg = JSON.parse(readFileSync(join(baseline, "package.json"), "utf8")) as { version: string };
        return `wsgate ${pkg.version} (baseline ${baseline}, ${checkoutLabel(baseline)})`;
      }
      case "nginx": {
        // `nginx -v` writes to stderr: "nginx version: nginx/1.22.1".
        const program = findProgram("nginx");
        if (program === undefined) return "not installed";
        const run = spawnSync(program, ["-v"], { encoding: "utf8", timeout: 5000 });
        return firstLine(`${run.stderr}${run.stdout}`).replace(/^nginx version: /, "");
      }
      case "haproxy": {
        const program = findProgram("haproxy");
        if (program === undefined) return "not installed";
        const out = execFileSync(program, ["-v"], { encoding: "utf8", timeout: 5000 });
        // "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/"
        return firstLine(out)
          .replace(/ - https?:.*$/, "")
          .replace(/^HAProxy version (\S+).*$/, "HAProxy $1");
      }
      case "http-proxy": {
        const require = createRequire(import.meta.url);
        const pkg = require("http-proxy/package.json") as { version: string };
        return `http-proxy ${pkg.version} on Node ${process.version}`;
      }
      case "node-sockets":
      case "node-handles":
        return `Node ${process.version}`;
    }
  } catch (error) {
    return `unknown (${(error as Error).message.slice(0, 60)})`;
  }
}

/** A checkout's commit, and whether its tracked files differ from it. */
export function checkoutLabel(dir: string): string {
  const git = (args: string[]): string =>
    execFileSync("git", ["-C", dir, ...args], {
      encoding: "utf8",
      timeout: 5000,
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  try {
    const commit = git(["rev-parse", "--short", "HEAD"]);
    return git(["status", "--porcelain", "--untracked-files=no"]) === "" ? commit : `${commit} + uncommitted changes`;
  } catch {
    return "not a git checkout";
  }
}

/** The template with every `${name}` replaced; an unknown placeholder is an error, not an empty string. */
export function fillTemplate(text: string, values: Record<string, string | number>): string {
  return text.replace(/\$\{([A-Za-z]+)\}/g, (_match, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`config template: no value for \${${key}}`);
    return String(value);
  });
}

/** Writes the target's filled-in config into `setup.dir` and returns the command line that starts it. */
export function prepareProxy(name: ProxyName, setup: ProxySetup): string[] {
  const target = PROXIES[name];
  let config = "";
  const template = setup.tls === undefined ? target.template : target.tlsTemplate;
  if (setup.tls !== undefined && template === undefined && target.tlsOnCommandLine !== true)
    throw new Error(`${name} has no TLS config`);
  if (template !== undefined) {
    const text = readFileSync(join(TEMPLATES, template), "utf8");
    config = join(setup.dir, template);
    writeFileSync(
      config,
      fillTemplate(text, {
        port: setup.port,
        backendPort: setup.backendPort,
        dir: setup.dir,
        // Client connections: each proxied one also holds a backend socket; a few descriptors stay for the rest.
        maxConnections: Math.floor((setup.maxFiles - 64) / 2),
        maxFiles: setup.maxFiles,
        // nginx's worker_connections: beyond the descriptors, so that they, not its slots, are the limit.
        connectionSlots: setup.maxFiles * 2,
        ...setup.tls,
      }),
    );
  }
  const program = target.program === undefined ? "" : (findProgram(target.program) ?? target.program);
  return target.command(setup, config, program);
}
