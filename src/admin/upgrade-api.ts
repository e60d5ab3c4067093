import { UpgradeUnsupportedError } from "../control/errors.js";
import type { AdminAnswer, AdminRequest } from "./response.js";

/**
 * `POST /apis/v2/upgrade`: starts a new process from the code and config on disk and hands it this one's listeners and
 * sessions (control/upgrade.ts). Answers once the new process serves, with its PID and the sessions moved, kept and
 * closed; `Connection: close`, since this listener now belongs to the new process.
 */
export async function upgradeProcess({ upgrade }: AdminRequest): Promise<AdminAnswer> {
  if (upgrade === undefined) {
    throw new UpgradeUnsupportedError(
      "this process cannot be upgraded in place: only `wsgate run` from config files can (not with --store, nor the demo, yet)",
    );
  }
  return { status: 200, body: await upgrade(), headers: { Connection: "close" } };
}
