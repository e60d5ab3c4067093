// The Validator's fields for how long the sessions it admits may live: a token's `exp`, a client certificate's
// `notAfter`, `maxSessionDuration` for basic auth and certificates, the close code, the warning, and renewal.
import { z } from "zod";
import { durationSchema } from "../../schema/duration.js";
import { closeCodeSchema } from "../close-code-schema.js";

const base64Schema = z.base64().min(1);

export const expiryWarningSchema = z
  .strictObject({
    before: durationSchema
      .refine((ms) => ms > 0, { error: "must be greater than 0" })
      .describe("How long before the session's end the warning is sent."),
    text: z.string().min(1).optional().describe("The warning as a text message."),
    binary: base64Schema.optional().describe("The warning as a binary message, written in base64."),
  })
  .refine((warning) => (warning.text === undefined) !== (warning.binary === undefined), {
    error: "needs exactly one of 'text' or 'binary'",
  });

export const renewalSchema = z.strictObject({
  tokenField: z
    .string()
    .regex(/^[^.]+(\.[^.]+)*$/, { error: "a field path such as `token` or `auth.token`" })
    .describe(
      "Where a client's JSON text message carries a new token, as a dotted path (`auth.token`). A message with a string there is a renewal: consumed by the gateway, never relayed; a valid token (same `sub`) moves the session's end to its `exp`, an invalid one closes the session with 1008. Other messages pass unchanged.",
    ),
  maxMessageSize: z
    .int()
    .min(16)
    .max(65536)
    .default(4096)
    .describe("Largest client text message read for a renewal (bytes); larger and fragmented messages are not read."),
});

/** Fields added to the Validator itself. */
export const validatorSessionFields = {
  expiryCloseCode: closeCodeSchema
    .default(1008)
    .describe(
      "The close code a client gets when the credential that admitted its session ends (a token's `exp` plus `clockSkew`, a certificate's `notAfter`, `maxSessionDuration`); reason `token expired`, `certificate expired` or `session duration exceeded`. The backend gets 1001. Many applications use a 4xxx code of their own.",
    ),
  expiryWarning: expiryWarningSchema
    .optional()
    .describe(
      "A message the client gets between two messages, `before` the session's end, so that it can get a new credential and reconnect (or renew) without a gap.",
    ),
  maxSessionDuration: durationSchema
    .default(0)
    .describe(
      "Sessions admitted by basic auth or a client certificate end after this long (as a token's `exp` ends those admitted by a token); 0: no limit.",
    ),
  clientCertificate: z
    .strictObject({
      closeAtNotAfter: z.boolean().default(true).describe("The session ends when the certificate's `notAfter` passes."),
    })
    .optional()
    .describe(
      "The request must come on a TLS connection with a verified client certificate (HTTPServer `caCertFile`, `clientAuth`); failing: 403.",
    ),
};

export type ExpiryWarningSpec = z.output<typeof expiryWarningSchema>;
export type RenewalSpec = z.output<typeof renewalSchema>;
