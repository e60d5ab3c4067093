// Short, stable reasons for failed checks and connections, as they appear in health log lines.
import { errnoReason } from "../../errors.js";

/** "connection refused" for ECONNREFUSED and the like; the code or message otherwise. */
export function reasonOfCode(code: string): string {
  return errnoReason(code);
}

export function reasonOfError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === "string") {
      const known = errnoReason(code);
      if (known !== code) return known;
      // TLS and parser errors: the message says more than the code.
      return error.message === "" ? code : error.message;
    }
    return error.message === "" ? error.name : error.message;
  }
  return String(error);
}
