import { defineFilterKind } from "../../pipeline/filter.js";
import { RateLimiter } from "./index.js";
import { rateLimiterSchema } from "./spec.js";

export const rateLimiterKind = defineFilterKind({
  name: "RateLimiter",
  description:
    "Token buckets per route, client address or header value; a request over the limit returns `rateLimited` with " +
    "a 429 and Retry-After prepared.",
  schema: rateLimiterSchema,
  results: ["rateLimited"],
  create: (spec) => new RateLimiter(spec),
  // Easegress Inherit: the buckets go on across a reload while a policy's numbers stay the same.
  inherit: (spec, _deps, previous) => new RateLimiter(spec, previous instanceof RateLimiter ? previous : undefined),
});
