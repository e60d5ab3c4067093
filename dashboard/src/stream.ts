// The page's one stream: server-sent events read with fetch() (EventSource cannot send the token), reconnecting
// with a growing pause when it breaks.
import { NeedsTokenError, authHeaders } from "./api.js";

export interface StreamHandlers {
  event(name: string, data: unknown): void;
  connected(): void;
  broken(reason: string): void;
  needsToken(): void;
}

const STREAM_PATH = "/apis/v2/dashboard/stream";
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10_000;
/** Samples come every second: this long without a byte means the stream is dead even if the socket is not. */
const SILENCE_MS = 10_000;

export class DashboardStream {
  private abort: AbortController | undefined;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: number | undefined;

  constructor(private readonly handlers: StreamHandlers) {}

  start(): void {
    this.stop();
    void this.run();
  }

  stop(): void {
    this.abort?.abort();
    this.abort = undefined;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private async run(): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    let silence = setTimeout(() => abort.abort(), SILENCE_MS);
    try {
      const response = await fetch(STREAM_PATH, {
        headers: { Accept: "text/event-stream", ...authHeaders() },
        signal: abort.signal,
        cache: "no-store",
      });
      if (response.status === 401) throw new NeedsTokenError();
      if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
      this.handlers.connected();
      this.retryMs = RETRY_MIN_MS;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(silence);
        silence = setTimeout(() => abort.abort(), SILENCE_MS);
        buffer += value;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          this.dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf("\n\n");
        }
      }
      throw new Error("the stream ended");
    } catch (error) {
      if (this.abort !== abort) return;
      if (error instanceof NeedsTokenError) {
        this.handlers.needsToken();
        return;
      }
      this.handlers.broken(abort.signal.aborted ? "no data" : (error as Error).message);
      this.retryTimer = window.setTimeout(() => void this.run(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    } finally {
      clearTimeout(silence);
    }
  }

  private dispatch(block: string): void {
    let name = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) name = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (data === "") return;
    this.handlers.event(name, JSON.parse(data));
  }
}
