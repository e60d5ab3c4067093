// The admin API as the page calls it: the token from this tab's session storage as a Bearer header.

const TOKEN_KEY = "wsgate-admin-token";
const CALL_TIMEOUT_MS = 10_000;

/** The admin API said 401: no token, or a wrong one. */
export class NeedsTokenError extends Error {}

export function storedToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function storeToken(token: string): void {
  if (token === "") sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

export function authHeaders(token = storedToken()): Record<string, string> {
  return token === "" ? {} : { Authorization: `Bearer ${token}` };
}

/** One admin call; throws NeedsTokenError on 401 and an Error with the API's message on any other failure. */
export async function call(method: string, path: string, body?: unknown, token = storedToken()): Promise<unknown> {
  const response = await fetch(path, {
    method,
    headers: {
      Accept: "application/json",
      ...authHeaders(token),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    cache: "no-store",
  });
  const text = await response.text();
  if (response.status === 401) throw new NeedsTokenError();
  let parsed: unknown = undefined;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const message = (parsed as { error?: string } | undefined)?.error ?? `HTTP ${response.status}`;
    throw new Error(message);
  }
  return parsed;
}
