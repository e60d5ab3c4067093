import { z } from "zod";

/** What the configuration reference shows for a schema when its zod shape alone would mislead. */
export interface DocMeta {
  /** Type column text, e.g. "duration". */
  type?: string;
  /** Default column text (markdown), for defaults applied by a transform rather than by `.default()`. */
  default?: string;
}

// A separate registry, not `.meta()`, so these hints stay out of the JSON Schema.
export const docMeta = z.registry<DocMeta>();
