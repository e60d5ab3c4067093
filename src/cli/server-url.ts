import { UsageError } from "./parse.js";

/**
 * `--server` as users type it: a URL, or HOST:PORT like the admin address it points at (`127.0.0.1:2381`,
 * `[::1]:2381`), which means http://.
 */
export function serverUrl(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--server '${text}' is not a URL or HOST:PORT (e.g. 127.0.0.1:2381, https://gw:2381)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--server '${text}': the admin API speaks http:// or https://, not ${url.protocol}//`);
  }
  return withScheme;
}
