// Per-connection limits of an HTTP/2 session. Node's http2 (nghttp2) enforces some itself once told (streams, header
// list, invalid and empty frames, refused streams); the floods it lets through when they come paced (resets, PINGs,
// SETTINGS: each costs a frame of work or a reply) are counted here, per connection, and end that connection only.
import { constants, type Http2Session, type ServerHttp2Stream, type Settings } from "node:http2";
import { performance } from "node:perf_hooks";
import { TokenBucket } from "../../util/token-bucket.js";
import type { Http2Limits } from "./limits-spec.js";

/** Pseudo-header fields a request may carry besides its headers (:method, :scheme, :authority, :path, :protocol). */
const PSEUDO_HEADERS = 5;

/** What Node's http2 server takes of the limits: merge into the options given to createSecureServer/createServer. */
export interface Http2LimitOptions {
  settings: Pick<Settings, "maxConcurrentStreams" | "maxHeaderListSize">;
  maxHeaderListPairs: number;
  maxSessionInvalidFrames: number;
  maxSessionRejectedStreams: number;
}

/** Node's server options for `limits`; `clientMaxHeaders` is the header count HTTP/1.1 allows too. */
export function http2LimitOptions(limits: Http2Limits, clientMaxHeaders: number): Http2LimitOptions {
  return {
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListSize },
    maxHeaderListPairs: clientMaxHeaders + PSEUDO_HEADERS,
    maxSessionInvalidFrames: limits.maxInvalidFrames,
    maxSessionRejectedStreams: limits.maxRefusedStreams,
  };
}

/** The floods counted here. */
export type Http2Flood = "resets" | "pings" | "settings";

/** Told once when a connection is closed for a flood (for the log and metrics). */
export type FloodReport = (session: Http2Session, flood: Http2Flood) => void;

/**
 * The flood counters of one session: a token bucket per kind, `max` deep, refilled `max` per `window`. Installed once
 * per connection; its handlers are bound methods, so a stream costs one listener and no closure.
 */
export class SessionFloodGuard {
  readonly #session: Http2Session;
  readonly #report: FloodReport;
  readonly #resets: TokenBucket;
  readonly #pings: TokenBucket;
  readonly #settings: TokenBucket;
  #tripped = false;

  constructor(session: Http2Session, limits: Http2Limits, report: FloodReport) {
    this.#session = session;
    this.#report = report;
    const now = performance.now();
    const bucket = (max: number): TokenBucket => new TokenBucket((max * 1000) / limits.window, max, now);
    this.#resets = bucket(limits.maxResets);
    this.#pings = bucket(limits.maxPings);
    this.#settings = bucket(limits.maxSettings);
    this.onPing = this.onPing.bind(this);
    this.onSettings = this.onSettings.bind(this);
    this.onStream = this.onStream.bind(this);
    this.onStreamAborted = this.onStreamAborted.bind(this);
    session.on("ping", this.onPing);
    session.on("remoteSettings", this.onSettings);
    session.on("stream", this.onStream);
  }

  /** Whether this connection was closed for a flood. */
  get tripped(): boolean {
    return this.#tripped;
  }

  private onPing(): void {
    if (!this.#pings.tryTake(performance.now())) this.trip("pings");
  }

  private onSettings(): void {
    if (!this.#settings.tryTake(performance.now())) this.trip("settings");
  }

  private onStream(stream: ServerHttp2Stream): void {
    stream.once("aborted", this.onStreamAborted);
  }

  /** A stream ended before its answer did: reset by the client (or by Node for its protocol error). */
  private onStreamAborted(): void {
    if (!this.#resets.tryTake(performance.now())) this.trip("resets");
  }

  private trip(flood: Http2Flood): void {
    if (this.#tripped) return;
    this.#tripped = true;
    this.#report(this.#session, flood);
    // GOAWAY ENHANCE_YOUR_CALM (RFC 9113 §5.4.1), then the socket closes; the session's other streams end with it.
    // (destroy's own code argument reaches the wire as NO_ERROR on Node 20: the GOAWAY goes first, by hand.)
    this.#session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    this.#session.destroy();
  }
}

/** Installs the flood guard on a new session, unless `window` 0 turned the flood limits off. */
export function guardSession(
  session: Http2Session,
  limits: Http2Limits,
  report: FloodReport,
): SessionFloodGuard | undefined {
  if (limits.window <= 0) return undefined;
  return new SessionFloodGuard(session, limits, report);
}

/**
 * An HTTPServer's HTTP/2 limits as its listener applies them: Node's options for the http2 server, the flood guard
 * for each new session, and a reload's new values (settings and flood counts for connections that come next; the
 * counts Node reads once per server, header pairs, invalid frames and refused streams, stay as created).
 */
export class Http2ConnectionLimits {
  constructor(
    private limits: Http2Limits,
    private readonly clientMaxHeaders: number,
    private readonly report: FloodReport,
  ) {}

  /** The http2 server's options, with the listener's own settings (e.g. enableConnectProtocol) merged in. */
  serverOptions(settings: Settings): Omit<Http2LimitOptions, "settings"> & { settings: Settings } {
    const options = http2LimitOptions(this.limits, this.clientMaxHeaders);
    return { ...options, settings: { ...options.settings, ...settings } };
  }

  /** Installs the flood guard on a session that just started. */
  guard(session: Http2Session): void {
    guardSession(session, this.limits, this.report);
  }

  /** A reload's limits: advertised to new connections from now on, and counted on them. */
  update(server: { updateSettings(settings: Settings): void }, limits: Http2Limits): void {
    this.limits = limits;
    server.updateSettings(http2LimitOptions(limits, this.clientMaxHeaders).settings);
  }
}
