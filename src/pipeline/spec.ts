import { z } from "zod";
import { nameSchema } from "../schema/common-fields.js";
import { filterSchemas } from "../filters/registry.js";

/** The built-in flow target that ends the pipeline. */
export const END = "END";

const flowNodeSchema = z.strictObject({
  filter: z.string().min(1).describe("Name of the filter to run, or `END` to stop."),
  jumpIf: z
    .record(z.string(), z.string().min(1))
    .default({})
    .describe("Filter result → name of a later filter in the flow, or `END`."),
});

export const pipelineSchema = z
  .strictObject({
    kind: z.literal("Pipeline").describe("Object kind."),
    name: nameSchema.describe("Object name, unique among all objects; HTTPServer paths name it as `backend`."),
    flow: z
      .array(flowNodeSchema)
      .optional()
      .describe("Order in which filters run; when absent or empty, the filters run in the order listed."),
    filters: z
      .array(z.discriminatedUnion("kind", filterSchemas()))
      .min(1)
      .describe("The filters of this pipeline; each has `kind`, `name` and the fields of its kind."),
  })
  // Consumers always get a flow: the listed order stands in for an absent one, as in Easegress.
  .transform((pipeline) => ({
    ...pipeline,
    flow:
      pipeline.flow !== undefined && pipeline.flow.length > 0
        ? pipeline.flow
        : pipeline.filters.map((filter) => ({ filter: filter.name, jumpIf: {} as Record<string, string> })),
  }));

export type PipelineSpec = z.output<typeof pipelineSchema>;
export type FlowNode = PipelineSpec["flow"][number];
