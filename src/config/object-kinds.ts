import { gatewaySchema } from "./kinds/gateway.js";
import { httpServerSchema } from "../server/spec.js";
import { pipelineSchema } from "../pipeline/spec.js";

/** Top-level object kinds, keyed by `kind`; `label` names an object of the kind in error messages. */
export const objectKinds = {
  Gateway: { schema: gatewaySchema, label: "gateway" },
  HTTPServer: { schema: httpServerSchema, label: "httpserver" },
  Pipeline: { schema: pipelineSchema, label: "pipeline" },
} as const;

export type ObjectKind = keyof typeof objectKinds;

export const objectKindNames = Object.keys(objectKinds) as ObjectKind[];

export function isObjectKind(kind: unknown): kind is ObjectKind {
  return typeof kind === "string" && Object.hasOwn(objectKinds, kind);
}
