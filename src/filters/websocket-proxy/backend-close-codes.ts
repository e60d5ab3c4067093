// A pool's `backendCloseCodes`: what the clients of a backend that goes away are told, so that they know whether to
// reconnect at once (1012 service restart), after a pause (1013 try again later), or treat it as an error (1011).
import { z } from "zod";
import { docMeta } from "../../schema/doc-meta.js";

/** Close codes a gateway may send when a backend goes away: the RFC's server-side codes, or an application's 4xxx. */
const BACKEND_GONE_CODES = [1001, 1011, 1012, 1013, 1014] as const;

const backendGoneCodeSchema = z
  .int()
  .refine((code) => (BACKEND_GONE_CODES as readonly number[]).includes(code) || (code >= 4000 && code <= 4999), {
    error: (issue) => `must be 1001, 1011, 1012, 1013, 1014 or 4000-4999, got ${String(issue.input)}`,
  });
docMeta.add(backendGoneCodeSchema, { type: "close code (1001, 1011-1014, 4000-4999)" });

export const backendCloseCodesSchema = z
  .strictObject({
    lost: backendGoneCodeSchema
      .default(1011)
      .describe(
        "Close code the client gets when the backend's connection is lost mid-session (reset, ended without a close frame). 1012 tells clients to reconnect at once, 1013 to reconnect after a pause.",
      ),
    drained: backendGoneCodeSchema
      .default(1001)
      .describe(
        "Close code the clients of a drained backend get: `wsgate drain`, an unhealthy backend's `drainSessions`, a server removed by a reload (`drainRemovedServers`).",
      ),
  })
  .optional();

export type BackendCloseCodes = z.infer<typeof backendCloseCodesSchema>;
