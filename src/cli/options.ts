// Every flag wsgate knows, once: its type, its short form, its default, what it means. Each command (commands.ts)
// picks the ones it takes, so that parsing, `--help`, did-you-mean and shell completion all read the same table.
import { DEFAULT_ADMIN_ADDRESS } from "../util/net/admin-address.js";
import { LOG_FORMATS, LOG_LEVELS } from "../observability/log-names.js";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  /** How the value reads in help, e.g. FILE|DIR; booleans have none. */
  value?: string;
  /** The values shell completion offers. */
  choices?: readonly string[];
  /** Completion offers file names. */
  file?: boolean;
  help: string;
}

export const DEFAULT_ADMIN_SERVER = `http://${DEFAULT_ADMIN_ADDRESS}`;

export const OPTIONS = {
  config: {
    type: "string",
    short: "c",
    multiple: true,
    value: "FILE|DIR",
    file: true,
    help: "a YAML file (objects separated by ---) or a directory of .yaml/.yml files; repeatable",
  },
  "log-level": {
    type: "string",
    default: "info",
    value: "LEVEL",
    choices: LOG_LEVELS,
    help: `${LOG_LEVELS.join(", ")} (default info)`,
  },
  "log-format": {
    type: "string",
    value: "FORMAT",
    choices: LOG_FORMATS,
    help: "json (one object per line) or pretty (one readable line); default pretty on a terminal, else json",
  },
  "drain-timeout": {
    type: "string",
    default: "10s",
    value: "DURATION",
    help: "on SIGTERM/SIGINT, how long live sessions get to close (default 10s)",
  },
  "upgrade-drain-timeout": {
    type: "string",
    default: "5m",
    value: "DURATION",
    help:
      "after `wsgate upgrade` (or SIGUSR2), how long sessions that cannot move to the new process (TLS, wss:// " +
      "backends) keep being served here before they are closed with 1001 (default 5m)",
  },
  watch: { type: "boolean", default: false, help: "reload the config files when they change (SIGHUP always does)" },
  "state-file": {
    type: "string",
    value: "FILE|off",
    file: true,
    help:
      "where objects created through the admin API are saved and loaded back at start (default: the first " +
      "--config path + .wsgate-state); off refuses creating them",
  },
  "bind-address": {
    type: "string",
    value: "ADDR",
    help: "listen on this address for every HTTPServer, whatever its address field says",
  },
  port: {
    type: "string",
    value: "PORT",
    help: "the port the demo's gateway listens on (default 8080, or a free port when 8080 is taken)",
  },
  workers: {
    type: "string",
    value: "N|auto",
    help: "worker processes sharing the listeners, or auto (one per core); default 1, or the Gateway object's workers",
  },
  "admin-address": {
    type: "string",
    value: "HOST:PORT|off",
    help: `where the admin API listens (default ${DEFAULT_ADMIN_ADDRESS}); only loopback without a token`,
  },
  "admin-token": {
    type: "string",
    value: "TOKEN",
    help: "bearer token the admin API requires (at least 16 characters; or WSGATE_ADMIN_TOKEN)",
  },
  "admin-host": {
    type: "string",
    multiple: true,
    value: "NAME[:PORT]",
    help: "a name the admin API also answers to in Host (repeatable); other Host values get 421",
  },
  "admin-tls-cert": {
    type: "string",
    value: "FILE",
    file: true,
    help: "serve the admin API over HTTPS: PEM certificate",
  },
  "admin-tls-key": { type: "string", value: "FILE", file: true, help: "serve the admin API over HTTPS: PEM key" },
  store: {
    type: "string",
    value: "etcd://HOST:2379[,...]",
    help: "serve the cluster's objects from etcd and register as a member",
  },
  "cluster-name": {
    type: "string",
    value: "NAME",
    help: "the cluster's name: its keys live under /wsgate/NAME/ (default default)",
  },
  seed: {
    type: "boolean",
    default: false,
    help: "write the --config files' objects into the cluster (create or update, validated) before serving",
  },
  "store-start-timeout": {
    type: "string",
    value: "DURATION",
    help: "how long to wait for an unreachable etcd at start before exiting 1 (default 30s)",
  },
  "member-ttl": {
    type: "string",
    value: "DURATION",
    help: "lease TTL of this member's entry: a dead member disappears after it (default 10s)",
  },
  server: {
    type: "string",
    value: "URL|HOST:PORT",
    help: `the admin API (default ${DEFAULT_ADMIN_SERVER}); http:// when no scheme; https:// trusts NODE_EXTRA_CA_CERTS`,
  },
  token: { type: "string", value: "TOKEN", help: "the admin API's bearer token (default: WSGATE_ADMIN_TOKEN)" },
  output: {
    type: "string",
    short: "o",
    default: "table",
    value: "FORMAT",
    choices: ["table", "json", "yaml"],
    help: "table (default), json or yaml",
  },
  filename: { type: "string", short: "f", value: "FILE", file: true, help: "the file of objects to apply" },
  cluster: { type: "boolean", default: false, help: "of every member of the cluster, via their admin APIs" },
  "all-members": { type: "boolean", default: false, help: "the same as --cluster" },
  code: {
    type: "string",
    value: "CODE",
    help: "sessions close: the close code the client gets (1000, or 3000-4999; default 1008)",
  },
  reason: { type: "string", value: "TEXT", help: "sessions close: the close reason the client gets" },
  over: {
    type: "string",
    value: "DURATION",
    help: "drain: close the server's sessions one at a time over this window (default 30s; 0 closes them at once)",
  },
  pool: {
    type: "string",
    value: "POOL",
    help: "drain: only in this pool, as status names it (pipeline/filter/pools[i]); default every pool with the server",
  },
  help: { type: "boolean", short: "h", help: "this help" },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** `--config, -c FILE|DIR` as help shows it. */
export function optionLabel(name: OptionName): string {
  const spec: OptionSpec = OPTIONS[name];
  const short = spec.short === undefined ? "" : `, -${spec.short}`;
  return `--${name}${short}${spec.value === undefined ? "" : ` ${spec.value}`}`;
}
