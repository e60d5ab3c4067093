// Secrets never reach a log line, a metric label or an error body. Tokens, Authorization and cookies are never logged
// at all; paths are, so the query parameters that carry tokens are redacted from them here, in one function.
import { paramKey } from "../util/param-key.js";

export const REDACTED = "REDACTED";

/**
 * The query parameters whose values are secret: RFC 6750's `access_token`, and every Validator's `jwt.queryParam`
 * (registered as the filter is built; a name, once secret, stays so for the gateway that owns this set).
 */
export class SecretQueryParams {
  readonly #keys = new Set([paramKey("access_token")]);

  add(name: string): void {
    this.#keys.add(paramKey(name));
  }

  has(name: string): boolean {
    return this.#keys.has(paramKey(name));
  }
}

function decodedName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, " "));
  } catch {
    return raw;
  }
}

/** `url` (path and query) with the value of every query parameter in `secrets` replaced by REDACTED. */
export function redactedPath(url: string, secrets: SecretQueryParams): string {
  const query = url.indexOf("?");
  if (query < 0) return url;
  // `;` separates parameters for some backends too: a token after one is redacted as well.
  const parts = url.slice(query + 1).split(/([&;])/);
  let changed = false;
  for (let i = 0; i < parts.length; i += 2) {
    const part = parts[i] as string;
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    if (name === "" || !secrets.has(decodedName(name))) continue;
    parts[i] = `${name}=${REDACTED}`;
    changed = true;
  }
  return changed ? `${url.slice(0, query + 1)}${parts.join("")}` : url;
}
