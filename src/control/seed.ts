import { formatConfigError, validateObjects } from "../config/load.js";
import type { ConfigObject } from "../config/load.js";
import type { ObjectStore } from "./object-store.js";
import { startupError } from "../errors.js";

/** `--seed` would leave the cluster with a config that does not load: nothing was written. */
export class SeedInvalidError extends startupError("WSG_SEED_INVALID") {
  constructor(readonly errors: string[]) {
    super(`--seed: the cluster's objects merged with the files would not load:\n  ${errors.join("\n  ")}`);
  }
}

/**
 * Seeds a cluster store from files: every file object is created or updated, objects others added stay. The merged
 * set is validated first, so a seed never breaks the members already running on the cluster.
 */
export async function seedStore(store: ObjectStore, objects: readonly ConfigObject[]): Promise<void> {
  const merged = new Map(store.list().map(({ object }) => [object.name, object]));
  for (const object of objects) merged.set(object.name, object);
  const result = validateObjects([...merged.values()], "(cluster objects after --seed)");
  if (!result.ok) throw new SeedInvalidError(result.errors.map(formatConfigError));
  await store.replaceAll(objects);
}
