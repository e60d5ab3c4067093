import { z } from "zod";
import { durationSchema } from "../../schema/duration.js";
import { httpMethodSchema, nameSchema, regexpSchema } from "../../schema/common-fields.js";

const policySchema = z.strictObject({
  name: nameSchema.describe("Policy name, which `defaultPolicyRef` and `urls[].policyRef` refer to."),
  limitForPeriod: z.int().min(1).default(50).describe("Handshakes allowed per `limitRefreshPeriod` (the bucket size)."),
  limitRefreshPeriod: durationSchema
    .prefault("10ms")
    .refine((ms) => ms > 0, { error: "must be greater than 0" })
    .describe("Period over which `limitForPeriod` tokens refill, evenly."),
  timeoutDuration: durationSchema
    .prefault("100ms")
    .describe("How long a handshake may wait for a token before it is refused with 429; 0 refuses at once."),
});

const stringMatchSchema = z
  .strictObject({
    exact: z.string().optional().describe("Matches this path exactly."),
    prefix: z.string().optional().describe("Matches paths that start with this."),
    regex: regexpSchema.optional().describe("Matches paths this regular expression finds a match in."),
  })
  .refine((match) => [match.exact, match.prefix, match.regex].some((value) => value !== undefined), {
    error: "needs one of 'exact', 'prefix' or 'regex'",
  });

const urlRuleSchema = z.strictObject({
  methods: z.array(httpMethodSchema).default([]).describe("Methods this rule applies to; empty: all."),
  url: stringMatchSchema.describe("Test on the request path (after `rewriteTarget`, without the query)."),
  policyRef: z.string().min(1).describe("The policy for matching requests."),
});

export const rateLimiterSchema = z
  .strictObject({
    kind: z.literal("RateLimiter").describe("Filter kind."),
    name: nameSchema.describe("Filter name, unique in its pipeline; `flow` refers to it."),
    policies: z.array(policySchema).min(1).describe("Token bucket policies."),
    defaultPolicyRef: z
      .string()
      .min(1)
      .optional()
      .describe("Policy for requests no `urls` rule matches; without it they are not limited."),
    urls: z.array(urlRuleSchema).default([]).describe("Per-path policies, first match wins."),
    keyBy: z
      .enum(["route", "ip", "header"])
      .default("route")
      .describe(
        "What gets its own bucket: the route (one bucket for all clients), each client IP, or each value of `headerName`.",
      ),
    headerName: z
      .string()
      .min(1)
      .optional()
      .describe("Header whose value keys the buckets; required by `keyBy: header`."),
  })
  .superRefine((spec, ctx) => {
    const names = new Set<string>();
    for (const [index, policy] of spec.policies.entries()) {
      if (names.has(policy.name)) {
        ctx.addIssue({
          code: "custom",
          message: `duplicate policy name '${policy.name}'`,
          path: ["policies", index, "name"],
        });
      }
      names.add(policy.name);
    }
    const unknown = (ref: string): string => `unknown policy '${ref}' (expected one of ${[...names].join(", ")})`;
    if (spec.defaultPolicyRef !== undefined && !names.has(spec.defaultPolicyRef)) {
      ctx.addIssue({ code: "custom", message: unknown(spec.defaultPolicyRef), path: ["defaultPolicyRef"] });
    }
    for (const [index, rule] of spec.urls.entries()) {
      if (!names.has(rule.policyRef)) {
        ctx.addIssue({ code: "custom", message: unknown(rule.policyRef), path: ["urls", index, "policyRef"] });
      }
    }
    if (spec.keyBy === "header" && spec.headerName === undefined) {
      ctx.addIssue({ code: "custom", message: "required when keyBy is header", path: ["headerName"] });
    }
  });

export type RateLimiterSpec = z.output<typeof rateLimiterSchema>;
export type RateLimiterPolicy = RateLimiterSpec["policies"][number];
