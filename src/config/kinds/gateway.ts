import { z } from "zod";
import { DEFAULT_ADMIN_ADDRESS, HOST_AUTHORITY, parseAdminAddress } from "../../util/net/admin-address.js";
import { nameSchema } from "../../schema/common-fields.js";
import { docMeta } from "../../schema/doc-meta.js";
import { markField } from "../../schema/marked-fields.js";

const adminAddressSchema = z.string().superRefine((text, ctx) => {
  try {
    parseAdminAddress(text);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message, input: text });
  }
});
docMeta.add(adminAddressSchema, { type: "`HOST:PORT` or `off`" });

const workersSchema = z.union([z.int().min(1), z.literal("auto")]);
docMeta.add(workersSchema, { type: "positive integer or `auto`" });

/** Process-wide settings: at most one per configuration. They take effect when the gateway starts. */
export const gatewaySchema = z.strictObject({
  kind: z.literal("Gateway").describe("Object kind."),
  name: nameSchema.describe("Object name, unique among all objects."),
  workers: workersSchema
    .default(1)
    .describe("Worker processes serving traffic; `auto` starts one per CPU. Read at start only."),
  adminAddress: adminAddressSchema
    .default(DEFAULT_ADMIN_ADDRESS)
    .describe(
      "Where the admin API listens (never on a traffic port), or `off`. Without `adminToken` only a loopback address is allowed. `--admin-address` overrides it. Read at start only.",
    ),
  adminToken: markField(
    z
      .string()
      .min(16)
      .optional()
      .describe(
        "Bearer token the admin API requires (`Authorization: Bearer TOKEN`); at least 16 characters. `--admin-token` and `WSGATE_ADMIN_TOKEN` override it. Read at start only.",
      ),
    "secret",
  ),
  adminAllowedHosts: z
    .array(z.string().regex(HOST_AUTHORITY, { error: "not NAME or NAME:PORT" }))
    .default([])
    .describe(
      "More names the admin API answers to in `Host` (`NAME` at its port, or `NAME:PORT` behind a port forward), besides its own address, its IP forms and `localhost` on loopback; any other `Host` gets 421 (DNS rebinding). `--admin-host` (repeatable) overrides it. Read at start only.",
    ),
  adminTls: z
    .strictObject({
      certFile: z.string().min(1).describe("PEM certificate (chain) file of the admin listener."),
      keyFile: z.string().min(1).describe("PEM private key file of the admin listener."),
    })
    .optional()
    .describe("Serve the admin API over HTTPS. `--admin-tls-cert`/`--admin-tls-key` override it. Read at start only."),
});

export type GatewaySpec = z.output<typeof gatewaySchema>;
