// The HTTPServer's `http2Limits`: what one HTTP/2 connection may ask of the gateway (RFC 9113 §5.1.2, §6.5.2, §10.5).
// Each flood limit counts one kind of frame per connection over `window`; going over closes that connection only.
import { z } from "zod";
import { durationSchema } from "../../schema/duration.js";

const floodCount = (what: string, fallback: number): z.ZodDefault<z.ZodInt> =>
  z
    .int()
    .min(1)
    .default(fallback)
    .describe(
      `Most ${what} within \`window\` on one connection (a burst of that many, refilled evenly over the window); one more: GOAWAY ENHANCE_YOUR_CALM and that connection is closed.`,
    );

export const http2LimitsSchema = z
  .strictObject({
    maxConcurrentStreams: z
      .int()
      .min(1)
      .max(2 ** 31 - 1)
      .default(100)
      .describe(
        "Most streams (requests and WebSockets) one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); a stream over it is refused with RST_STREAM REFUSED_STREAM, safe for the client to retry.",
      ),
    maxHeaderListSize: z
      .int()
      .min(1024)
      .max(2 ** 31 - 1)
      .default(16384)
      .describe(
        "Largest request header list in bytes, as HTTP/2 counts it (each name and value plus 32; SETTINGS_MAX_HEADER_LIST_SIZE); a larger one resets that stream (ENHANCE_YOUR_CALM). Node holds a client to it once the client has acknowledged the setting (before: 64 KiB). The number of headers is `clientMaxHeaders`, as on HTTP/1.1.",
      ),
    window: durationSchema
      .prefault("10s")
      .describe("The span the flood limits `maxResets`, `maxPings` and `maxSettings` count over; 0 turns them off."),
    maxResets: floodCount(
      "streams reset before their answer ended (by the client, or by Node for the client's protocol error; the 'rapid reset' attack, CVE-2023-44487)",
      200,
    ),
    maxPings: floodCount("PING frames", 100),
    maxSettings: floodCount("SETTINGS frames", 100),
    maxInvalidFrames: z
      .int()
      .min(0)
      .default(100)
      .describe(
        "Most invalid frames and empty DATA, HEADERS or CONTINUATION frames that end nothing one connection may send in its life (Node's maxSessionInvalidFrames); one more: GOAWAY and the connection is closed.",
      ),
    maxRefusedStreams: z
      .int()
      .min(0)
      .default(100)
      .describe(
        "Most streams refused for `maxConcurrentStreams` one connection may open in its life (Node's maxSessionRejectedStreams); one more: GOAWAY and the connection is closed.",
      ),
  })
  .describe(
    "Per-connection limits of HTTP/2 (with `http2` or `h2c`): streams, header list size, and floods of resets, PINGs, SETTINGS and empty frames. Going over a flood limit closes that connection only; see docs/http2.md.",
  );

export type Http2Limits = z.output<typeof http2LimitsSchema>;
