// Short, stable reasons for failed checks and connections, as they appear in health log lines.

const BY_CODE: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ETIMEDOUT: "timeout",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
};

/** "connection refused" for ECONNREFUSED and the like; the code or message otherwise. */
export function reasonOfCode(code: string): string {
  return BY_CODE[code] ?? code;
}

export function reasonOfError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === "string") {
      const known = BY_CODE[code];
      if (known !== undefined) return known;
      // TLS and parser errors: the message says more than the code.
      return error.message === "" ? code : error.message;
    }
    return error.message === "" ? error.name : error.message;
  }
  return String(error);
}
