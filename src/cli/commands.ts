// The commands of wsgate: what each does, the flags it takes, and examples. `--help`, the usage, did-you-mean and
// the shell completion scripts are all drawn from this one table.
import { OPTIONS, optionLabel, type OptionName } from "./options.js";

export interface CommandSpec {
  name: string;
  summary: string;
  /** Synopsis lines, without the leading `wsgate `. */
  usage: readonly string[];
  options: readonly OptionName[];
  examples: readonly string[];
  /** Words completion offers after the command (sub-commands, kinds, shells). */
  words?: readonly string[];
}

const ADMIN_CLIENT: readonly OptionName[] = ["server", "token", "output"];
const ADMIN_LISTENER: readonly OptionName[] = [
  "admin-address",
  "admin-token",
  "admin-host",
  "admin-tls-cert",
  "admin-tls-key",
];
const LOGGING: readonly OptionName[] = ["log-level", "log-format"];

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "run",
    summary: "serve the objects (Gateway, HTTPServer, Pipeline) in the config files, with the admin API",
    usage: [
      "run --config FILE|DIR [--config ...] [--watch] [--bind-address ADDR] [--workers N|auto] [OPTIONS]",
      "run --store etcd://HOST:2379[,HOST:2379...] [--cluster-name NAME] [--config FILE|DIR --seed] [OPTIONS]",
    ],
    options: [
      "config",
      "watch",
      "state-file",
      "bind-address",
      "workers",
      ...LOGGING,
      "drain-timeout",
      "upgrade-drain-timeout",
      ...ADMIN_LISTENER,
      "store",
      "cluster-name",
      "seed",
      "store-start-timeout",
      "member-ttl",
    ],
    examples: [
      "wsgate run -c gateway.yaml",
      "wsgate run -c conf.d/ --watch --log-format pretty",
      "wsgate run -c gateway.yaml --workers auto --admin-address 127.0.0.1:2381",
      "wsgate run --store etcd://10.0.0.5:2379 --cluster-name prod -c gateway.yaml --seed",
    ],
  },
  {
    name: "validate",
    summary: "check config files; exit 0 when valid, else print each error with file:line and exit 1",
    usage: ["validate FILE|DIR [FILE|DIR ...]", "validate --config FILE|DIR [--config ...]"],
    options: ["config", "admin-address"],
    examples: ["wsgate validate gateway.yaml", "wsgate validate conf.d/ extra.yaml"],
  },
  {
    name: "demo",
    summary: "two echo backends and the gateway on the bundled example (examples/demo.yaml), on free ports",
    usage: ["demo [--port PORT] [--bind-address ADDR] [OPTIONS]"],
    options: ["port", "bind-address", ...LOGGING, "drain-timeout", ...ADMIN_LISTENER],
    examples: ["wsgate demo", "wsgate demo --port 9000", "wsgate demo --bind-address 0.0.0.0 --log-format json"],
  },
  {
    name: "schema",
    summary: "print the JSON Schema of the configuration objects, for editors",
    usage: ["schema"],
    options: [],
    examples: ["wsgate schema > wsgate.schema.json"],
  },
  {
    name: "apply",
    summary: "create each object of FILE on a running gateway, or update it when its name exists",
    usage: ["apply -f FILE [--server URL] [--token TOKEN] [-o table|json|yaml]"],
    options: ["filename", ...ADMIN_CLIENT],
    examples: ["wsgate apply -f pipeline.yaml", "wsgate apply -f gateway.yaml --server 10.0.0.5:2381 --token $TOKEN"],
  },
  {
    name: "get",
    summary: "list objects (all, of one kind, or one by name) with their status",
    usage: ["get [KIND|NAME] [--server URL] [-o table|json|yaml]"],
    options: ADMIN_CLIENT,
    examples: ["wsgate get", "wsgate get pipeline", "wsgate get demo-server -o yaml"],
    words: ["HTTPServer", "Pipeline", "Gateway"],
  },
  {
    name: "describe",
    summary: "one object as written, and its status (listeners, pools and servers, sessions)",
    usage: ["describe NAME [--server URL] [-o table|json|yaml]"],
    options: ADMIN_CLIENT,
    examples: ["wsgate describe websocket-pipeline", "wsgate describe demo-server --server 127.0.0.1:2381"],
  },
  {
    name: "delete",
    summary: "delete one object",
    usage: ["delete NAME [--server URL]"],
    options: ADMIN_CLIENT,
    examples: ["wsgate delete old-pipeline"],
  },
  {
    name: "sessions",
    summary: "live WebSocket sessions (route, backend, client, age, traffic), or close one",
    usage: [
      "sessions [--cluster] [--server URL] [-o table|json|yaml]",
      "sessions close ID [--code CODE] [--reason TEXT] [--server URL]",
    ],
    options: [...ADMIN_CLIENT, "cluster", "all-members", "code", "reason"],
    examples: [
      "wsgate sessions",
      "wsgate sessions --cluster -o json",
      "wsgate sessions close 3f2a9c --code 4000 --reason 'maintenance'",
    ],
    words: ["close"],
  },
  {
    name: "drain",
    summary: "take an upstream server out until its pool's config changes: no new sessions, live ones closed (1001)",
    usage: ["drain SERVER [--over DURATION] [--pool POOL] [--server URL] [-o table|json|yaml]"],
    options: ["over", "pool", ...ADMIN_CLIENT],
    examples: [
      "wsgate drain 10.0.0.7:9095                      # over 30s",
      "wsgate drain 10.0.0.7:9095 --over 5m",
      "wsgate drain ws://backend-2.internal:9000 --over 0 --pool chat/proxy/pools[0]",
    ],
  },
  {
    name: "upgrade",
    summary: "replace the running gateway by a new process from the code on disk; its listeners and sessions move",
    usage: ["upgrade [--server URL] [--token TOKEN] [-o table|json|yaml]"],
    options: ADMIN_CLIENT,
    examples: ["npm install -g wsgate@latest && wsgate upgrade", "wsgate upgrade --server 127.0.0.1:2381 -o json"],
  },
  {
    name: "members",
    summary: "the members of the cluster (run --store): id, address, admin API, sessions, age, version",
    usage: ["members [--server URL] [-o table|json|yaml]"],
    options: ADMIN_CLIENT,
    examples: ["wsgate members", "wsgate members --server 10.0.0.5:2381 -o yaml"],
  },
  {
    name: "completion",
    summary: "print a shell completion script for bash or zsh",
    usage: ["completion bash|zsh"],
    options: [],
    examples: [
      "source <(wsgate completion bash)              # bash, this shell",
      "wsgate completion zsh > ~/.zfunc/_wsgate      # zsh, with ~/.zfunc in fpath",
    ],
    words: ["bash", "zsh"],
  },
  {
    name: "help",
    summary: "this overview, or the help of one command",
    usage: ["help [COMMAND]"],
    options: [],
    examples: ["wsgate help run"],
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((command) => command.name === name);
}

/** The options a command's parser takes: its own, and --help. */
export function parserOptions(command: CommandSpec): readonly OptionName[] {
  return [...command.options, "help"];
}

function optionLines(names: readonly OptionName[]): string {
  const labels = names.map((name) => optionLabel(name));
  const width = Math.max(...labels.map((label) => label.length));
  return names.map((name, index) => `  ${(labels[index] ?? "").padEnd(width)}  ${OPTIONS[name].help}\n`).join("");
}

/** `wsgate COMMAND --help`: summary, usage, options, examples. */
export function commandHelp(command: CommandSpec): string {
  return (
    `wsgate ${command.name}: ${command.summary}\n\n` +
    `Usage:\n${command.usage.map((line) => `  wsgate ${line}\n`).join("")}\n` +
    `Options:\n${optionLines(parserOptions(command))}\n` +
    `Examples:\n${command.examples.map((line) => `  ${line}\n`).join("")}`
  );
}

/** `wsgate --help`: the commands, one line each, and where to read more. */
export function overviewHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return (
    `wsgate: a WebSocket-aware reverse proxy and gateway\n\n` +
    `Usage:\n${COMMANDS.flatMap((command) => command.usage.map((line) => `  wsgate ${line}\n`)).join("")}` +
    `  wsgate --help | --version\n\n` +
    `Commands:\n${COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}\n`).join("")}\n` +
    `Run 'wsgate COMMAND --help' for a command's options and examples.\n\n` +
    `Examples:\n  wsgate demo\n  wsgate validate gateway.yaml\n  wsgate run -c gateway.yaml --watch\n  wsgate get\n`
  );
}
