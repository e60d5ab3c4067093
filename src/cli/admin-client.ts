import type { ConfigError } from "../config/errors.js";
import { DEFAULT_ADMIN_ADDRESS } from "../util/net/admin-address.js";

export const DEFAULT_SERVER = `http://${DEFAULT_ADMIN_ADDRESS}`;

/** An admin request that failed: the server's message (and config errors), or why it could not be reached. */
export class AdminRequestError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: string | undefined = undefined,
    readonly errors: readonly ConfigError[] = [],
  ) {
    super(message);
  }
}

export interface AdminResponse {
  status: number;
  headers: Headers;
  text: string;
}

interface ErrorBody {
  error?: string;
  code?: string;
  errors?: ConfigError[];
}

/** The admin API as `wsgate get/apply/...` call it, with the token and clear errors for each way a call fails. */
export class AdminClient {
  readonly base: string;

  constructor(
    server: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 15_000,
  ) {
    this.base = server.replace(/\/+$/, "");
  }

  async request(
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<AdminResponse> {
    const url = `${this.base}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          ...(this.token === undefined ? {} : { Authorization: `Bearer ${this.token}` }),
          ...(body === undefined ? {} : { "Content-Type": "application/yaml" }),
          ...headers,
        },
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new AdminRequestError(
        `cannot reach the admin API at ${this.base}: ${reasonOf(error)} (is wsgate running there? see --server)`,
        undefined,
      );
    }
    const text = await response.text();
    if (response.ok) return { status: response.status, headers: response.headers, text };
    const parsed = parseErrorBody(text);
    if (response.status === 401) {
      const hint =
        this.token === undefined ? "pass --token or set WSGATE_ADMIN_TOKEN" : "check --token / WSGATE_ADMIN_TOKEN";
      throw new AdminRequestError(`unauthorized: ${parsed.error ?? "the admin API needs a token"} (${hint})`, 401);
    }
    throw new AdminRequestError(
      parsed.error ?? `${method} ${path}: HTTP ${response.status}`,
      response.status,
      parsed.code,
      parsed.errors ?? [],
    );
  }

  async json<T>(method: string, path: string, body?: string): Promise<T> {
    const response = await this.request(method, path, body, { Accept: "application/json" });
    return (response.text === "" ? undefined : JSON.parse(response.text)) as T;
  }
}

function parseErrorBody(text: string): ErrorBody {
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as ErrorBody) : {};
  } catch {
    return {};
  }
}

/** fetch hides the socket error in `cause`: ECONNREFUSED and friends are what users need to see. */
function reasonOf(error: unknown): string {
  if (error instanceof Error && error.name === "TimeoutError") return "no answer in time";
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
