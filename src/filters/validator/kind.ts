import { defineFilterKind } from "../../pipeline/filter.js";
import { Validator } from "./index.js";
import { validatorSchema } from "./spec.js";

export const validatorKind = defineFilterKind({
  name: "Validator",
  description:
    "Checks request headers (403), a JSON Web Token (401 Bearer) and basic authentication (401 Basic); a request " +
    "that fails returns `invalid` with that refusal prepared.",
  schema: validatorSchema,
  results: ["invalid"],
  create: (spec, deps) => new Validator(spec, deps.telemetry.secrets),
});
