import { stringify } from "yaml";
import type { ListenerAddress } from "../config/admin-targets.js";
import type { ConfigObject } from "../config/load.js";
import { validateSources } from "../config/load.js";
import { parseObjects } from "../config/parse-objects.js";
import { InvalidObjectError, NotOneObjectError } from "./errors.js";

/** How errors name the request body and the other objects, in `file` of each error. */
export const REQUEST_FILE = "request";
export const STORED_FILE = "stored objects";

/** The one object in a YAML or JSON body (JSON is YAML); its own errors are placed at lines of the body. */
export function objectOfBody(text: string): ConfigObject {
  const { objects, errors } = parseObjects(text, REQUEST_FILE);
  if (errors.length > 0) throw new InvalidObjectError(errors);
  const [object, ...rest] = objects;
  if (object === undefined || rest.length > 0) throw new NotOneObjectError(objects.length);
  // parseObjects reports an invalid or missing name, so a valid object has one.
  if (object.name === undefined) throw new NotOneObjectError(0);
  return { kind: object.kind, name: object.name, data: object.data };
}

/**
 * Validates the set the store would hold after a change, as `wsgate validate` would: `changed` (the body, when there
 * is one) among `others`. Errors in the body come first and give its lines; errors in other objects (say a server
 * whose pipeline the change deletes) name the object and field.
 */
export function checkCandidate(
  others: readonly ConfigObject[],
  adminListeners: readonly ListenerAddress[],
  changed?: { text: string },
): void {
  const sources = [{ file: STORED_FILE, text: others.map((object) => stringify(object.data)).join("---\n") }];
  if (changed !== undefined) sources.push({ file: REQUEST_FILE, text: changed.text });
  const result = validateSources(sources, { adminListeners });
  if (!result.ok) throw new InvalidObjectError(result.errors);
}
