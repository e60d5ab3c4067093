import { formatConfigError } from "../config/errors.js";
import { exitCodeOf } from "../errors.js";
import { AdminClient, AdminRequestError, DEFAULT_SERVER } from "./admin-client.js";
import { FileObjectsError } from "./apply-file.js";
import type { ParsedArgs } from "./parse.js";
import { serverUrl } from "./server-url.js";
import {
  UsageError,
  apply,
  closeSession,
  describe,
  drain,
  get,
  members,
  remove,
  sessions,
  upgrade,
  type OutputFormat,
  type VerbContext,
} from "./verbs.js";

const VERBS = ["apply", "get", "describe", "delete", "sessions", "drain", "members", "upgrade"] as const;
type AdminVerb = (typeof VERBS)[number];

export function isAdminVerb(command: string): command is AdminVerb {
  return (VERBS as readonly string[]).includes(command);
}

/** The flags the admin verbs read. */
export function verbOptions(args: ParsedArgs): VerbOptions {
  return {
    server: args.string("server"),
    token: args.string("token"),
    output: args.string("output"),
    filename: args.string("filename"),
    cluster: args.flag("cluster"),
    "all-members": args.flag("all-members"),
    code: args.string("code"),
    reason: args.string("reason"),
    over: args.string("over"),
    pool: args.string("pool"),
  };
}

export interface VerbOptions {
  server?: string | undefined;
  token?: string | undefined;
  output?: string | undefined;
  filename?: string | undefined;
  /** sessions: of every member of the cluster (`--cluster`, `--all-members`). */
  cluster?: boolean | undefined;
  "all-members"?: boolean | undefined;
  /** sessions close: the close code and reason the client gets. */
  code?: string | undefined;
  reason?: string | undefined;
  /** drain: the window its sessions are closed over, and the one pool. */
  over?: string | undefined;
  pool?: string | undefined;
}

/** How long `wsgate upgrade` waits for its answer: the new process's start and the hand-over of every session. */
const UPGRADE_TIMEOUT_MS = 300_000;

const OUTPUTS: readonly OutputFormat[] = ["table", "json", "yaml"];

/** Runs one egctl-like verb against the admin API; returns the exit code (0 ok, 1 failed, 2 usage). */
export async function runAdminVerb(verb: AdminVerb, args: readonly string[], options: VerbOptions): Promise<number> {
  const err = (text: string): void => void process.stderr.write(text);
  const output = (options.output ?? "table") as OutputFormat;
  if (!OUTPUTS.includes(output)) {
    err(`wsgate: --output must be one of ${OUTPUTS.join(", ")}\n`);
    return 2;
  }
  const token = options.token ?? (process.env["WSGATE_ADMIN_TOKEN"] || undefined);
  try {
    const client = new AdminClient(serverUrl(options.server ?? DEFAULT_SERVER), token);
    const context: VerbContext = { client, args, output, out: (text) => void process.stdout.write(text), err };
    switch (verb) {
      case "apply":
        if (options.filename === undefined) throw new UsageError("wsgate apply needs -f FILE");
        return (await apply(context, options.filename)) ? 0 : 1;
      case "get":
        await get(context);
        return 0;
      case "describe":
        await describe(context);
        return 0;
      case "delete":
        await remove(context);
        return 0;
      case "sessions":
        if (args[0] === "close") {
          await closeSession(context, options.code, options.reason);
          return 0;
        }
        if (args.length > 0) throw new UsageError(`unknown sessions sub-command '${args[0]}' (wsgate sessions --help)`);
        await sessions(context, options.cluster === true || options["all-members"] === true);
        return 0;
      case "drain":
        await drain(context, options.over, options.pool);
        return 0;
      case "members":
        await members(context);
        return 0;
      case "upgrade":
        // Starting the new process and handing the sessions over takes longer than an ordinary request.
        await upgrade({ ...context, client: new AdminClient(context.client.base, token, UPGRADE_TIMEOUT_MS) });
        return 0;
    }
  } catch (error) {
    const report = failureReport(error);
    if (report === undefined) throw error;
    err(report);
    return exitCodeOf(error);
  }
}

/** What stderr gets when a verb fails in a way the user can act on; undefined for a bug (thrown on). */
function failureReport(error: unknown): string | undefined {
  if (error instanceof UsageError) return error.report();
  if (error instanceof FileObjectsError) {
    return `${error.message}\nwsgate: ${error.errors.length} configuration error(s); nothing applied\n`;
  }
  if (error instanceof AdminRequestError) {
    return `wsgate: ${error.message}\n${error.errors.map((detail) => `${formatConfigError(detail)}\n`).join("")}`;
  }
  if ((error as NodeJS.ErrnoException).code === "ENOENT") return `wsgate: ${(error as Error).message}\n`;
  return undefined;
}
