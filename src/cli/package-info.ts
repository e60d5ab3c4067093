import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The package's root: examples/ and package.json are there (dist/src/cli/ is three levels down). */
export const packageRoot = fileURLToPath(new URL("../../../", import.meta.url));

export function packageVersion(): string {
  return (JSON.parse(readFileSync(`${packageRoot}package.json`, "utf8")) as { version: string }).version;
}
