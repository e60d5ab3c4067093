// The messages of `wsgate upgrade` between the running process and its successor, over the IPC channel the running
// one opens when it starts the successor. Every message carries `wsgateUpgrade` (its step), so that other messages
// on the same channel (the sessions being handed over) are told apart.
//
//   successor                         running process
//   hello ─────────────────────────▶
//                                    ◀── listener (+ its socket), one per message ... listeners-sent
//   (loads the config, starts on the sockets it got, binds the rest, ids above firstSessionId)
//   running ───────────────────────▶ (stops accepting, hands the sessions over: Gateway.handOverSessions)
//   took (what it resumed, closed) ─▶
//                                    ◀── done (figures, counter totals)
//   failed (why) ─────────────────▶ instead of running, when it cannot start

import type { CounterSnapshot } from "../observability/carried-counters.js";

/** Set in a successor's environment to the PID of the process it replaces. */
export const SUCCESSOR_ENV = "WSGATE_UPGRADE_FROM";

/** Which listener a socket is: an HTTPServer's, or the admin API's. */
export interface ListenerMessage {
  wsgateUpgrade: "listener";
  role: "server" | "admin";
  /** The HTTPServer's name ("" for the admin API). */
  server: string;
  /** As configured (the admin API's host; an HTTPServer's address, undefined for every address). */
  address: string | undefined;
  /** As configured (0: any free port) and as bound. */
  port: number;
  boundPort: number;
}

export type UpgradeMessage =
  | { wsgateUpgrade: "hello"; pid: number }
  | ListenerMessage
  | { wsgateUpgrade: "listeners-sent"; count: number; firstSessionId: number }
  | { wsgateUpgrade: "running"; pid: number }
  | { wsgateUpgrade: "took"; taken: number; closed: number; refused: number }
  | { wsgateUpgrade: "failed"; reason: string }
  | {
      wsgateUpgrade: "done";
      moved: number;
      kept: number;
      closed: number;
      /** The counters' totals here, for the new process to go on from (absent from an older build). */
      counters?: CounterSnapshot;
    };

type Step = UpgradeMessage["wsgateUpgrade"];

const STEPS: ReadonlySet<string> = new Set<Step>([
  "hello",
  "listener",
  "listeners-sent",
  "running",
  "took",
  "failed",
  "done",
]);

/** The message as an upgrade step, or undefined for anything else on the channel. */
export function upgradeMessage(value: unknown): UpgradeMessage | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const step = (value as { wsgateUpgrade?: unknown }).wsgateUpgrade;
  return typeof step === "string" && STEPS.has(step) ? (value as UpgradeMessage) : undefined;
}

/** What `POST /apis/v2/upgrade` answers and the upgrade's log line says. */
export interface UpgradeOutcome {
  oldPid: number;
  newPid: number;
  /** Sessions now served by the new process. */
  moved: number;
  /** Sessions that stay here (TLS, wss:// backends, not settled in time) until they end or the drain timeout. */
  kept: number;
  /** Sessions the hand-over itself ended (the new config has no filter for them: 1001). */
  closed: number;
  /** Why the kept ones stayed: TLS, wss:// backend, not settled in time, not movable, hand-over broke. */
  keptBy?: {
    tls: number;
    wssBackend: number;
    unsettled: number;
    notMovable: number;
    handOverFailed: number;
  };
  /** Of `tookMs`, the hand-over of the sessions. */
  handOverMs?: number;
  tookMs: number;
}
