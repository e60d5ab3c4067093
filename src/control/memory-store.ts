import type { ConfigObject } from "../config/load.js";
import { ObjectExistsError, ObjectNotFoundError, StaleRevisionError } from "../errors.js";
import { canonicalJson } from "../util/canonical-json.js";
import type { ObjectStore, ObjectsListener, StoredObject } from "./object-store.js";

/** The one-machine store: objects in memory, seeded from the config files; revisions count changes. */
export class MemoryObjectStore implements ObjectStore {
  private readonly objects = new Map<string, StoredObject>();
  private readonly listeners: ObjectsListener[] = [];
  private revision = 0;

  constructor(initial: readonly ConfigObject[] = []) {
    for (const object of initial) this.objects.set(object.name, { object, revision: ++this.revision });
  }

  list(): StoredObject[] {
    return [...this.objects.values()];
  }

  get(name: string): StoredObject | undefined {
    return this.objects.get(name);
  }

  create(object: ConfigObject): Promise<StoredObject> {
    if (this.objects.has(object.name)) return Promise.reject(new ObjectExistsError(object.name));
    return Promise.resolve(this.write(object));
  }

  update(object: ConfigObject, expectedRevision?: number): Promise<StoredObject> {
    const current = this.objects.get(object.name);
    if (current === undefined) return Promise.reject(new ObjectNotFoundError(object.name));
    if (expectedRevision !== undefined && expectedRevision !== current.revision) {
      return Promise.reject(new StaleRevisionError(object.name, expectedRevision, current.revision));
    }
    return Promise.resolve(this.write(object));
  }

  delete(name: string): Promise<void> {
    if (!this.objects.delete(name)) return Promise.reject(new ObjectNotFoundError(name));
    this.changed();
    return Promise.resolve();
  }

  replaceAll(objects: readonly ConfigObject[]): Promise<void> {
    const before = new Map(this.objects);
    this.objects.clear();
    for (const object of objects) {
      // An object a reload brings back as it was keeps its revision (an If-Match taken before still holds).
      const kept = before.get(object.name);
      const same = kept !== undefined && canonicalJson(kept.object) === canonicalJson(object);
      this.objects.set(object.name, same ? kept : { object, revision: ++this.revision });
    }
    this.changed();
    return Promise.resolve();
  }

  onChange(listener: ObjectsListener): void {
    this.listeners.push(listener);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private write(object: ConfigObject): StoredObject {
    const stored = { object, revision: ++this.revision };
    // An update keeps the object's place, so load order (and error lines) stay stable.
    this.objects.set(object.name, stored);
    this.changed();
    return stored;
  }

  private changed(): void {
    const objects = this.list().map((stored) => stored.object);
    for (const listener of this.listeners) listener(objects);
  }
}
