import { z } from "zod";
import { docMeta } from "../schema/doc-meta.js";
import { isValidWireCloseCode } from "../websocket/protocol.js";

/** A close code the client may be sent: 1000-1003, 1007-1014, or an application's 3000-4999. */
export const closeCodeSchema = z.int().refine(isValidWireCloseCode, {
  error: (issue) => `not a close code that may be sent (1000-1003, 1007-1014, 3000-4999), got ${String(issue.input)}`,
});
docMeta.add(closeCodeSchema, { type: "close code" });
