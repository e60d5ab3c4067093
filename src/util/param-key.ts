/**
 * A query or cookie name as PHP reads it: leading spaces dropped, ` `, `.` and `[` taken for `_`. Comparing names
 * this way makes `access.token` the same parameter as `access_token`, as it is for such a backend.
 */
export function paramKey(name: string): string {
  return name.trimStart().replace(/[ .[]/g, "_");
}
