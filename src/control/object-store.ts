import type { ConfigObject } from "../config/load.js";

/** An object with the store's revision of it: the revision an update must name to win a race (optimistic locking). */
export interface StoredObject {
  object: ConfigObject;
  revision: number;
}

/** Every change to the objects, as the whole new set: consumers validate and apply the set as one config. */
export type ObjectsListener = (objects: ConfigObject[]) => void;

/**
 * Where a gateway's objects live: memory seeded from files (one machine), or etcd (a cluster). Writers validate before
 * writing; a store only keeps objects and tells its listeners about every change, its own or another writer's.
 */
export interface ObjectStore {
  /** A snapshot in load order. */
  list(): StoredObject[];
  get(name: string): StoredObject | undefined;
  /** Throws ObjectExistsError when the name is taken (by any kind). */
  create(object: ConfigObject): Promise<StoredObject>;
  /**
   * Replaces an object of the same name. Throws ObjectNotFoundError when there is none and StaleRevisionError when
   * `expectedRevision` is given and is no longer the object's revision.
   */
  update(object: ConfigObject, expectedRevision?: number): Promise<StoredObject>;
  /** Throws ObjectNotFoundError when there is none. */
  delete(name: string): Promise<void>;
  /** Replaces every object at once (a file reload, `--seed`). */
  replaceAll(objects: readonly ConfigObject[]): Promise<void>;
  /** Called after every change with the whole new set. */
  onChange(listener: ObjectsListener): void;
  close(): Promise<void>;
}
