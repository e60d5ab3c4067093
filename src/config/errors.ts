import { startupError, type ConfigError } from "../errors.js";

// ConfigError sits with the error roots (the admin API answers with a list of them); it is read here as before.
export type { ConfigError } from "../errors.js";

/** `file:line object filter name path: message`, leaving out the parts that are not known. */
export function formatConfigError(error: ConfigError): string {
  const parts = [error.line > 0 ? `${error.file}:${error.line}` : error.file].filter((part) => part !== "");
  if (error.object !== undefined) parts.push(error.object);
  if (error.filter !== undefined) parts.push(`filter ${error.filter}`);
  if (error.path !== "") parts.push(error.path);
  return parts.length === 0 ? error.message : `${parts.join(" ")}: ${error.message}`;
}

/** A warning as an error line, with `warning: ` before the message: `file:line object path: warning: message`. */
export function formatConfigWarning(warning: ConfigError): string {
  return formatConfigError({ ...warning, message: `warning: ${warning.message}` });
}

const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/** ["pools", 0, "loadBalance"] → "pools[0].loadBalance"; odd keys are quoted: headers["a.b"]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    else if (typeof key === "string" && PLAIN_KEY.test(key)) text += text === "" ? key : `.${key}`;
    else text += `[${JSON.stringify(String(key))}]`;
  }
  return text;
}

/** Orders errors by file, then line, then column, keeping the found order otherwise. */
export function sortConfigErrors(errors: readonly ConfigError[]): ConfigError[] {
  return [...errors].sort((a, b) => {
    if (a.file !== b.file) return a.file < b.file ? -1 : 1;
    return a.line - b.line || a.column - b.column;
  });
}

/** The configuration does not load: each error on its own line, then how many when there were several; exit 1. */
export class ConfigLoadError extends startupError("WSG_CONFIG_INVALID") {
  constructor(readonly errors: readonly ConfigError[]) {
    super(`${errors.length} configuration error(s)`);
  }

  override report(): string {
    const lines = this.errors.map((error) => `${formatConfigError(error)}\n`);
    if (this.errors.length > 1) lines.push(`wsgate: ${this.errors.length} configuration errors\n`);
    return lines.join("");
  }
}
