/**
 * A load worker of the handover scenario (handover.ts), forked with an IPC channel. It holds its share of the
 * sessions, each sending a numbered, timestamped message every `periodMs` (phases spread over the period) to the
 * echo backend through wsgate, and keeps per session, within the current window: the longest wait between two
 * echoes arriving (the pause a session sees), the longest round trip, and any echo missing, repeated or out of order.
 *
 * Commands (process.send): open {url, count} → opened; stream {periodMs} → streaming; window → windowed (a new window
 * starts); collect → collected (the window's figures); stop → stopped (no more sends); close → closed.
 */
import { performance } from "node:perf_hooks";
import { WebSocket } from "ws";

export type ClientCommand =
  | { type: "open"; url: string; count: number }
  | { type: "stream"; periodMs: number }
  | { type: "window" }
  | { type: "collect" }
  | { type: "stop" }
  | { type: "close" };

export interface WindowFigures {
  /** Per session: the longest wait between two echoes in the window (ms); NaN when fewer than two came. */
  longestGapMs: number[];
  /** Per session: the longest round trip of a message answered in the window (ms). */
  longestRttMs: number[];
  echoes: number;
  /** Echoes whose number was not the next one: skipped numbers, and numbers again. */
  gaps: number;
  repeats: number;
  /** Sessions that closed or failed (each a failure of the handover). */
  closed: number;
  /** Messages sent and not answered yet. */
  outstanding: number;
}

export type ClientReply =
  | { type: "opened"; opened: number; failed: number; firstError?: string }
  | { type: "streaming" }
  | { type: "windowed" }
  | { type: "stopped" }
  | ({ type: "collected" } & WindowFigures)
  | { type: "closed" };

/** One session's state: plain fields on one object, no closure per message. */
class Session {
  sent = 0;
  next = 0;
  lastEchoAt = 0;
  longestGapMs = 0;
  longestRttMs = 0;
  echoes = 0;
  gaps = 0;
  repeats = 0;
  closed = false;

  constructor(readonly ws: WebSocket) {}

  startWindow(): void {
    this.lastEchoAt = 0;
    this.longestGapMs = 0;
    this.longestRttMs = 0;
    this.echoes = 0;
    this.gaps = 0;
    this.repeats = 0;
  }

  onEcho(text: string): void {
    const now = performance.now();
    const space = text.indexOf(" ");
    const number = Number(text.slice(0, space));
    const sentAt = Number(text.slice(space + 1));
    this.echoes++;
    if (this.lastEchoAt > 0) this.longestGapMs = Math.max(this.longestGapMs, now - this.lastEchoAt);
    this.lastEchoAt = now;
    this.longestRttMs = Math.max(this.longestRttMs, now - sentAt);
    if (number === this.next) this.next++;
    else if (number > this.next) {
      this.gaps += number - this.next;
      this.next = number + 1;
    } else this.repeats++;
  }

  send(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(`${this.sent++} ${performance.now()}`);
  }
}

const sessions: Session[] = [];
const timers: NodeJS.Timeout[] = [];

function reply(message: ClientReply): void {
  process.send?.(message);
}

function openOne(url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 30_000 });
    ws.once("open", () => {
      const session = new Session(ws);
      sessions.push(session);
      ws.on("message", (data) => session.onEcho(String(data)));
      ws.on("close", () => (session.closed = true));
      ws.on("error", () => (session.closed = true));
      resolve(undefined);
    });
    ws.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function open(url: string, count: number): Promise<void> {
  let failed = 0;
  let firstError: string | undefined;
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < count) {
      started++;
      const error = await openOne(url);
      if (error !== undefined) {
        failed++;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: 50 }, lane));
  reply({ type: "opened", opened: count - failed, failed, ...(firstError === undefined ? {} : { firstError }) });
}

/** Each session sends every `periodMs`, the sessions' phases spread evenly over the period by one timer per slice. */
function stream(periodMs: number): void {
  const slices = Math.max(1, Math.min(50, Math.floor(periodMs / 5)));
  for (let slice = 0; slice < slices; slice++) {
    const mine = sessions.filter((_, index) => index % slices === slice);
    const start = setTimeout(
      () => {
        const timer = setInterval(() => {
          for (const session of mine) session.send();
        }, periodMs);
        timers.push(timer);
      },
      (periodMs / slices) * slice,
    );
    timers.push(start);
  }
  reply({ type: "streaming" });
}

function collect(): WindowFigures {
  const figures: WindowFigures = {
    longestGapMs: [],
    longestRttMs: [],
    echoes: 0,
    gaps: 0,
    repeats: 0,
    closed: 0,
    outstanding: 0,
  };
  for (const session of sessions) {
    figures.longestGapMs.push(session.echoes >= 2 ? session.longestGapMs : Number.NaN);
    figures.longestRttMs.push(session.longestRttMs);
    figures.echoes += session.echoes;
    figures.gaps += session.gaps;
    figures.repeats += session.repeats;
    if (session.closed) figures.closed++;
    figures.outstanding += session.sent - session.next;
  }
  return figures;
}

function stopSending(): void {
  for (const timer of timers) clearInterval(timer);
  timers.length = 0;
}

function close(): void {
  stopSending();
  for (const session of sessions) session.ws.terminate();
  sessions.length = 0;
  reply({ type: "closed" });
}

process.on("message", (command: ClientCommand) => {
  switch (command.type) {
    case "open":
      void open(command.url, command.count);
      return;
    case "stream":
      stream(command.periodMs);
      return;
    case "window":
      for (const session of sessions) session.startWindow();
      reply({ type: "windowed" });
      return;
    case "collect":
      reply({ type: "collected", ...collect() });
      return;
    case "stop":
      stopSending();
      reply({ type: "stopped" });
      return;
    case "close":
      close();
      return;
  }
});
// Leave with the orchestrator.
process.on("disconnect", () => process.exit(0));
