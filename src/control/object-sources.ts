// Where each object of a gateway run from files comes from: a config file (at a line) or the admin API. Writes to a
// file's object are refused (the next reload would undo them); objects created through the API are kept across
// reloads (merged with the files' objects) and saved to the state file, which the next start loads back.
import { rename, writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import { formatConfigError, validateObjects, type ConfigObject, type GatewayConfig } from "../config/load.js";
import type { ObjectStore } from "./object-store.js";

/** `--state-file` unless given: beside the first config path (a sibling of a directory, never inside one). */
export function defaultStateFile(configPaths: readonly string[]): string | undefined {
  const [first] = configPaths;
  return first === undefined ? undefined : `${first.replace(/[\\/]+$/, "")}.wsgate-state`;
}

export interface FilePosition {
  file: string;
  line: number;
}

/** What `wsgate get` shows in SOURCE: "FILE:LINE", or "api" for an object created through the admin API. */
export const API_SOURCE = "api";

const STATE_HEADER =
  "# Objects created through wsgate's admin API, saved by the gateway after each change and loaded at its next\n" +
  "# start. Edit them with wsgate apply/delete; to keep one for good, move it into a config file and delete it here.\n";

/** The merged set does not load: the reload is refused with the errors (the running set stays). */
export class MergedObjectsInvalidError extends Error {
  constructor(errors: readonly string[]) {
    super(`the config files together with the objects created through the admin API do not load: ${errors.join("; ")}`);
  }
}

export class ObjectSources {
  private readonly fromFiles = new Map<string, FilePosition>();

  /**
   * `config`: what the gateway started on, its positions naming files (the state file's objects count as the API's);
   * `stateFile`: where the API's objects are saved, or undefined to refuse creating them.
   */
  constructor(
    config: GatewayConfig,
    readonly stateFile: string | undefined,
  ) {
    this.takeFiles(config);
  }

  /** The file position of an object the config files define; undefined for the API's (and unknown) objects. */
  fileOf(name: string): FilePosition | undefined {
    return this.fromFiles.get(name);
  }

  sourceOf(name: string): string {
    const position = this.fromFiles.get(name);
    return position === undefined ? API_SOURCE : `${position.file}:${position.line}`;
  }

  /**
   * The files' new set with the store's API objects added (a file's object of the same name is a conflict: the
   * reload is refused rather than one silently replacing the other). Throws MergedObjectsInvalidError.
   */
  mergeWithFiles(config: GatewayConfig, store: ObjectStore): GatewayConfig {
    const fromApi = store
      .list()
      .map((stored) => stored.object)
      .filter((object) => !this.fromFiles.has(object.name));
    if (fromApi.length === 0) return config;
    const result = validateObjects([...config.objects, ...fromApi], "(config files + admin API objects)");
    if (!result.ok) throw new MergedObjectsInvalidError(result.errors.map(formatConfigError));
    return { ...result.config, positions: config.positions ?? new Map() };
  }

  /** After a file reload ran: the files' objects are the ones it read. */
  takeFiles(config: GatewayConfig): void {
    this.fromFiles.clear();
    for (const [name, position] of config.positions ?? []) {
      if (position.file !== this.stateFile) this.fromFiles.set(name, position);
    }
  }

  /** Writes the store's API objects to the state file (a whole new file, renamed into place). */
  async save(store: ObjectStore): Promise<void> {
    if (this.stateFile === undefined) return;
    const objects: ConfigObject[] = store
      .list()
      .map((stored) => stored.object)
      .filter((object) => !this.fromFiles.has(object.name));
    const text = STATE_HEADER + objects.map((object) => stringify(object.data)).join("---\n");
    const temporary = `${this.stateFile}.${process.pid}.tmp`;
    await writeFile(temporary, text, { mode: 0o600 });
    await rename(temporary, this.stateFile);
  }
}
