/** One problem in the configuration, placed where the user can fix it. */
export interface ConfigError {
  /** The file as the user named it (or as found in a directory they named). */
  file: string;
  /** 1-based line of the offending value (or key, or parent map); 0 when the problem is the whole file. */
  line: number;
  /** 1-based column on that line; 0 when line is 0. */
  column: number;
  /** The object, as "<kind in lower case> <name>", e.g. "pipeline ws-rr". */
  object?: string;
  /** The filter name when the problem is inside a pipeline's filter. */
  filter?: string;
  /** Where in the object (or in the filter, when `filter` is set), e.g. "pools[0].loadBalance.policy". */
  path: string;
  message: string;
  /** The offending value, when there is one. */
  value?: unknown;
}

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
