import { stringify } from "yaml";
import type { ConfigObject } from "../config/load.js";
import { isObjectKind, objectKindNames } from "../config/object-kinds.js";
import type { GatewayControl } from "../control/control.js";
import { ApplyFailedError, ApiObjectsRefusedError, ObjectFromFileError, StateFileError } from "../control/errors.js";
import type { StoredObject } from "../control/object-store.js";
import { ObjectExistsError, ObjectNotFoundError, StaleRevisionError } from "../errors.js";
import { readBody } from "./body.js";
import { PipelineInUseError, pipelineUses } from "./pipeline-users.js";
import { InvalidQueryError, KindChangeError, NameMismatchError } from "./errors.js";
import { checkCandidate, objectOfBody } from "./object-body.js";
import type { AdminAnswer, AdminRequest } from "./response.js";
import { wantsYaml } from "./response.js";
import { canonicalJson, expectedRevision, revisionHeaders } from "./revision.js";
import { redactSecrets, restoreRedacted, secretsWanted } from "./secrets.js";

const OBJECTS_PATH = "/apis/v2/objects";

/** One row of `GET /apis/v2/objects`: the object as written, with its revision for a later If-Match. */
export interface ObjectListItem {
  name: string;
  kind: string;
  revision: number;
  /** "FILE:LINE" of a config file, or "api"; absent when the store is a cluster's. */
  source?: string;
  object: Record<string, unknown>;
}

function written(stored: StoredObject, status: number, unchanged = false): AdminAnswer {
  const { name, kind } = stored.object;
  return {
    status,
    body: { name, kind, revision: stored.revision, ...(unchanged ? { unchanged: true } : {}) },
    headers: { ...revisionHeaders(stored.revision), Location: `${OBJECTS_PATH}/${encodeURIComponent(name)}` },
  };
}

/** How objects are shown: secrets redacted, unless `?secrets=true` with a token. */
function shownData(
  query: URLSearchParams,
  tokenConfigured: boolean,
): (object: ConfigObject) => Record<string, unknown> {
  const secrets = secretsWanted(query, tokenConfigured);
  return (object) => (secrets ? object.data : redactSecrets(object.kind, object.data));
}

function mustGet(control: GatewayControl, name: string): StoredObject {
  const stored = control.store.get(name);
  if (stored === undefined) throw new ObjectNotFoundError(name);
  return stored;
}

/** A config file's object is changed in its file: the next reload would undo an admin write (409 naming it). */
function mustNotBeFromFile(control: GatewayControl, name: string): void {
  const position = control.sources?.fileOf(name);
  if (position !== undefined) throw new ObjectFromFileError(name, `${position.file}:${position.line}`);
}

function sourceOf(control: GatewayControl, name: string): { source?: string } {
  return control.sources === undefined ? {} : { source: control.sources.sourceOf(name) };
}

/**
 * The object endpoints. Writes run one at a time: each is validated against the current set, written, and applied;
 * when the gateway cannot apply it (a port in use, say) the write is undone, so the store keeps describing what runs.
 */
export class ObjectsApi {
  private writing: Promise<unknown> = Promise.resolve();

  private serialized<T>(write: () => Promise<T>): Promise<T> {
    const result = this.writing.then(write);
    this.writing = result.catch(() => undefined);
    return result;
  }

  list = ({ control, query, listener }: AdminRequest): Promise<AdminAnswer> => {
    const shown = shownData(query, listener.tokenConfigured);
    const kind = query.get("kind");
    if (kind !== null && !isObjectKind(kind)) {
      throw new InvalidQueryError(`unknown kind '${kind}' (expected one of ${objectKindNames.join(", ")})`);
    }
    const items: ObjectListItem[] = control.store
      .list()
      .filter((stored) => kind === null || stored.object.kind === kind)
      .map(({ object, revision }) => ({
        name: object.name,
        kind: object.kind,
        revision,
        ...sourceOf(control, object.name),
        object: shown(object),
      }));
    return Promise.resolve({ status: 200, body: items });
  };

  get = ({ control, params, request, query, listener }: AdminRequest): Promise<AdminAnswer> => {
    const shown = shownData(query, listener.tokenConfigured);
    const stored = mustGet(control, params["name"] ?? "");
    const { source } = sourceOf(control, stored.object.name);
    const headers = {
      ...revisionHeaders(stored.revision),
      ...(source === undefined ? {} : { "X-Object-Source": source }),
    };
    const data = shown(stored.object);
    if (!wantsYaml(request, query)) return Promise.resolve({ status: 200, body: data, headers });
    return Promise.resolve({
      status: 200,
      text: { contentType: "application/yaml", body: stringify(data) },
      headers,
    });
  };

  create = async ({ control, request, listener }: AdminRequest): Promise<AdminAnswer> => {
    // A "<redacted>" secret of an existing object is restored, so the name check below answers 409 for it.
    const text = restoreRedacted(await readBody(request), control.store);
    const object = objectOfBody(text);
    return this.serialized(async () => {
      // Checked before validation, so a taken name is a 409 rather than a duplicate-name 400.
      if (control.store.get(object.name) !== undefined) throw new ObjectExistsError(object.name);
      if (control.sources !== undefined && control.sources.stateFile === undefined) {
        throw new ApiObjectsRefusedError(object.name);
      }
      checkCandidate(
        control.store.list().map((stored) => stored.object),
        listener.addresses,
        { text },
      );
      const stored = await control.store.create(object);
      const undo = (): Promise<unknown> => control.store.delete(object.name);
      await this.applyOrUndo(control, undo);
      await this.saveOrUndo(control, undo);
      return written(stored, 201);
    });
  };

  update = async ({ control, request, params, query, listener }: AdminRequest): Promise<AdminAnswer> => {
    const name = params["name"] ?? "";
    const expected = expectedRevision(request, query);
    const text = restoreRedacted(await readBody(request), control.store);
    const object = objectOfBody(text);
    if (object.name !== name) throw new NameMismatchError(name, object.name);
    return this.serialized(async () => {
      const previous = mustGet(control, name);
      if (expected !== undefined && expected !== previous.revision) {
        throw new StaleRevisionError(name, expected, previous.revision);
      }
      if (previous.object.kind !== object.kind) throw new KindChangeError(name, previous.object.kind, object.kind);
      // The same object again (as `wsgate apply` of an unchanged file sends it): nothing to write, no new revision.
      if (canonicalJson(previous.object.data) === canonicalJson(object.data)) return written(previous, 200, true);
      mustNotBeFromFile(control, name);
      const others = control.store
        .list()
        .filter((stored) => stored.object.name !== name)
        .map((stored) => stored.object);
      checkCandidate(others, listener.addresses, { text });
      const stored = await control.store.update(object, expected);
      const undo = (): Promise<unknown> => control.store.update(previous.object, stored.revision);
      await this.applyOrUndo(control, undo);
      await this.saveOrUndo(control, undo);
      return written(stored, 200);
    });
  };

  delete = ({ control, params, listener }: AdminRequest): Promise<AdminAnswer> => {
    const name = params["name"] ?? "";
    return this.serialized(async () => {
      const previous = mustGet(control, name);
      mustNotBeFromFile(control, name);
      const uses =
        previous.object.kind === "Pipeline"
          ? pipelineUses(
              name,
              control.store.list().map((s) => s.object),
            )
          : [];
      if (uses.length > 0) throw new PipelineInUseError(name, uses);
      checkCandidate(
        control.store
          .list()
          .filter((stored) => stored.object.name !== name)
          .map((stored) => stored.object),
        listener.addresses,
      );
      await control.store.delete(name);
      const undo = (): Promise<unknown> => control.store.create(previous.object);
      await this.applyOrUndo(control, undo);
      await this.saveOrUndo(control, undo);
      return { status: 200, body: { name, kind: previous.object.kind, deleted: true } };
    });
  };

  /** Saves the API's objects to the state file, so the next start has them; when it cannot, undoes the write. */
  private async saveOrUndo(control: GatewayControl, undo: () => Promise<unknown>): Promise<void> {
    const sources = control.sources;
    if (sources?.stateFile === undefined) return;
    try {
      await sources.save(control.store);
    } catch (error) {
      await undo().catch(() => undefined);
      await control.settled();
      throw new StateFileError(sources.stateFile, (error as Error).message);
    }
  }

  /** Waits for the gateway to take the change; when it cannot, undoes the write and answers with why. */
  private async applyOrUndo(control: GatewayControl, undo: () => Promise<unknown>): Promise<void> {
    const failure = await control.settled();
    if (failure === undefined) return;
    // Undo only our own write: an update names the revision it wrote, so a later writer's change is kept.
    const undone = await undo().then(
      () => true,
      () => false,
    );
    if (undone) await control.settled();
    throw new ApplyFailedError(failure, undone);
  }
}
