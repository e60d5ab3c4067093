// `GET /apis/v2/dashboard/stream`: the dashboard's one stream per page, as server-sent events over a plain response.
// The page reads it with fetch() (EventSource cannot send the admin token): `history` once (the last 15 minutes of
// rates), then `sample` (rates) and `state` (sessions, pools, objects, config changes, members) every second.
import type { IncomingMessage, ServerResponse } from "node:http";
import { TooManyStreamsError } from "./errors.js";
import type { DashboardFeed, DashboardState, RateSample } from "./feed.js";

export const DASHBOARD_STREAM_PATH = "/apis/v2/dashboard/stream";
/** Open streams per admin listener: a page each; more is a leak or a misbehaving client. */
export const MAX_STREAMS = 32;

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Streams `feed` to one page until it goes away. */
export class DashboardStreams {
  private open = 0;

  constructor(private readonly feed: DashboardFeed) {}

  /** Throws TooManyStreamsError (before anything is written) when MAX_STREAMS are open. */
  serve(request: IncomingMessage, response: ServerResponse): void {
    if (this.open >= MAX_STREAMS) throw new TooManyStreamsError(MAX_STREAMS);
    this.open += 1;
    response.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
    });
    response.flushHeaders();
    // Small events once a second: sent at once rather than coalesced.
    request.socket.setNoDelay(true);
    const unsubscribe = this.feed.subscribe({
      history(samples: readonly RateSample[]): void {
        response.write(event("history", samples));
      },
      sample(sample: RateSample, state: DashboardState): void {
        // A page that does not read keeps at most one unread second buffered; it misses beats instead.
        if (response.writableNeedDrain) return;
        response.write(event("sample", sample) + event("state", state));
      },
    });
    response.once("close", () => {
      this.open -= 1;
      unsubscribe();
    });
  }
}
