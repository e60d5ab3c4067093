import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { Transform, type TransformCallback } from "node:stream";
import { UpstreamDialTimeoutError, type GatewayError } from "../../errors.js";
import type { RequestContext, PlainRequestContext } from "../../pipeline/context.js";
import type { Filter, FilterDeps, FilterResult } from "../../pipeline/filter.js";
import { proxyAttempts, type AttemptOutcome, type UpstreamPhases } from "../../proxy/attempts.js";
import { withClientCertHeaders } from "../../util/http/client-cert.js";
import type { BalanceContext } from "../../upstream/balance-types.js";
import { DialStage } from "../../upstream/connect/failure.js";
import { reasonOfCode } from "../../upstream/health/reasons.js";
import { describeServer, type UpstreamServer } from "../../upstream/server.js";
import { FilterPools, type FilterPool } from "../pools.js";
import {
  BodyTooLargeError,
  UnframableBodyError,
  UpgradeNotServedError,
  UpstreamNoAnswerError,
  UpstreamResponseTimeoutError,
} from "./errors.js";
import { hasBody, requestFraming, type BodyFraming } from "./framing.js";
import { isHttp2 } from "./h2.js";
import { flatten, proxyRequestHeaders, proxyResponseHeaders } from "./headers.js";
import type { ProxyPool, ProxySpec } from "./spec.js";

/** Methods whose request may be sent again to another server when the first could not be reached (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/** At most this many retries of a request whose kept-alive connection turned out closed by the backend. */
const STALE_RETRIES = 2;

interface PoolEntry extends FilterPool<ProxyPool> {
  /** Kept-alive connections to the pool's http:// servers. */
  http: http.Agent;
  /** Kept-alive connections to the pool's https:// servers (keyed by Node per host and TLS options). */
  https: https.Agent;
}

/** The request body as the attempts see it: at most one attempt reads it. */
interface Body {
  /** How it is framed, as Node's parser read it; the backend gets the same framing. */
  framing: BodyFraming;
  /** Some attempt has started reading it: no other attempt may be made. */
  taken: boolean;
  /** clientMaxBodySize; -1 for no limit. */
  limit: number;
}

/** A backend's answer, whose head has been relayed to the client. */
interface Answered {
  status: number;
}

type Attempt = AttemptOutcome<Answered>;

/** Counts body bytes on their way to the backend and stops them at the limit. */
class BodyLimit extends Transform {
  private bytes = 0;
  constructor(
    private readonly limit: number,
    private readonly onOverflow: () => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.limit >= 0 && this.bytes > this.limit) {
      callback();
      this.onOverflow();
      return;
    }
    callback(null, chunk);
  }
}

/**
 * The Proxy filter (kind `Proxy`; the class has another name, to leave JavaScript's global Proxy alone): plain HTTP
 * requests to the servers of its pools, over kept-alive connections, with request and response bodies streamed both
 * ways (never buffered whole). A connect that fails moves an idempotent request to the next server of the pool, as
 * long as no byte of its body has been read.
 */
export class HttpProxy implements Filter {
  readonly kind = "Proxy";
  /** A WebSocketProxy in the same pipeline takes the upgrades; without one they get 400 here. */
  readonly traffic = "request";
  readonly name: string;
  /** The main pool and the candidate pools, each with its backends' TLS settings and kept-alive agents. */
  private readonly pools: FilterPools<ProxyPool, PoolEntry>;
  private readonly failureCodes: ReadonlySet<number>;

  constructor(
    private readonly spec: ProxySpec,
    deps: FilterDeps,
  ) {
    this.name = spec.name;
    this.failureCodes = new Set(spec.failureCodes);
    const agentOptions: http.AgentOptions = {
      keepAlive: true,
      maxFreeSockets: Math.max(1, spec.maxIdleConnsPerHost),
      timeout: spec.idleConnTimeout,
      scheduling: "lifo",
    };
    const keepAlive = spec.maxIdleConnsPerHost > 0;
    this.pools = new FilterPools(
      spec.pools,
      {
        kind: this.kind,
        filter: spec.name,
        pipeline: deps.pipeline,
        log: deps.log,
        upstreamStatus: deps.upstreamStatus,
      },
      (base) => ({
        ...base,
        http: new http.Agent({ ...agentOptions, keepAlive }),
        https: new https.Agent({ ...agentOptions, keepAlive }),
      }),
    );
  }

  async handle(context: RequestContext): Promise<FilterResult> {
    if (context.kind === "upgrade") return { result: "clientError", error: new UpgradeNotServedError() };
    const { req } = context;
    const limit = context.route.maxBodySize ?? -1;
    const framing = requestFraming(req);
    if (framing instanceof UnframableBodyError) return { result: "clientError", error: framing };
    if (limit >= 0 && framing.kind === "length" && framing.length > limit)
      return { result: "clientError", error: new BodyTooLargeError(limit) };
    const body: Body = { framing, taken: false, limit };
    const entry = this.pools.choose(context);
    const balance: BalanceContext = { clientIp: context.clientIp, headers: req.headers };
    const outcome = await proxyAttempts(entry.pool, balance, this.upstream(context, entry, body), context);
    if (outcome.kind === "ended") return outcome.result;
    // A jumpIf on serverError may still send the request elsewhere (a fallback pipeline step).
    if (outcome.kind === "refused") return { result: "serverError", error: outcome.error };
    return this.failureCodes.has(outcome.answer.status) ? "failureCode" : "";
  }

  /**
   * The upstream phases for the proxy core. A connect that failed moves the request to another server only when it is
   * idempotent and no byte of its body was read; an answer with one of `failureCodes` counts against the server.
   */
  private upstream(context: PlainRequestContext, entry: PoolEntry, body: Body): UpstreamPhases<Answered> {
    const idempotent = IDEMPOTENT.has(context.req.method ?? "");
    return {
      connect: async (server) => {
        // Counted while in flight, for least-connections.
        const inFlight = { close: (): void => undefined };
        entry.pool.sessionOpened(server, inFlight);
        try {
          return await this.exchange(context, entry, server, body);
        } finally {
          entry.pool.sessionClosed(server, inFlight);
        }
      },
      judgeAnswer: ({ status }) => (this.failureCodes.has(status) ? `status ${status}` : undefined),
      mayRetry: () => idempotent && !body.taken,
      sameServerRetries: STALE_RETRIES,
      finished: () => context.answered,
    };
  }

  /** One try of the request on one server; settles once the answer's head is relayed or the try failed. */
  private exchange(
    context: PlainRequestContext,
    entry: PoolEntry,
    server: UpstreamServer,
    body: Body,
  ): Promise<Attempt> {
    const { req, res } = context;
    const label = describeServer(server);
    context.notes.backend = label;
    const secure = server.secure;
    const headers = withClientCertHeaders(
      proxyRequestHeaders({
        req,
        server,
        clientIp: context.clientIp,
        peer: context.route.peer,
        secure: context.route.secure,
        framing: body.framing,
        extra: context.upstreamHeaders,
        owned: context.ownedHeaders,
      }),
      context.route.clientCertHeaders,
    );
    const options: https.RequestOptions = {
      host: server.hostname,
      port: server.port,
      method: req.method ?? "GET",
      path: context.route.target,
      headers: flatten(headers),
      setHost: false,
      agent: secure ? entry.https : entry.http,
      ...(secure ? entry.tls.optionsFor(server.url) : undefined),
    };
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      const stage = new DialStage(label, secure);
      let timer: NodeJS.Timeout | undefined;
      const upstream = (secure ? https : http).request(options);
      const settle = (attempt: Attempt): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        res.off("close", onClientClose);
        resolve(attempt);
      };
      const fail = (error: GatewayError, counts = true, sameServerAgain = false): void => {
        upstream.destroy();
        settle({ kind: "failed", error, counts, sameServerAgain });
      };
      const onClientClose = (): void => {
        upstream.destroy();
        settle({ kind: "ended", result: "" });
      };
      res.once("close", onClientClose);

      const sendBody = (): void => {
        if (!hasBody(body.framing)) {
          upstream.end();
          return;
        }
        body.taken = true;
        const limiter = new BodyLimit(body.limit, () => {
          req.unpipe(limiter);
          limiter.unpipe(upstream);
          upstream.destroy();
          if (!res.headersSent) context.reject(new BodyTooLargeError(body.limit));
          else res.destroy();
          settle({ kind: "ended", result: "clientError" });
        });
        req.pipe(limiter).pipe(upstream);
      };
      const onConnected = (): void => {
        clearTimeout(timer);
        sendBody();
      };
      timer = setTimeout(() => fail(new UpstreamDialTimeoutError(label)), this.spec.dialTimeout);
      upstream.on("socket", (socket: Socket) => {
        if (upstream.reusedSocket) {
          socket.setNoDelay(true);
          stage.markConnected();
          onConnected();
          return;
        }
        stage.watch(socket, onConnected);
      });
      upstream.on("finish", () => {
        if (settled) return;
        clearTimeout(timer);
        timer = setTimeout(() => fail(new UpstreamResponseTimeoutError(label)), this.spec.responseTimeout);
      });
      upstream.on("error", (error: NodeJS.ErrnoException) => {
        if (settled) return;
        // A dial failure (TCP or TLS) is read by the one classifier; after it, the exchange failed.
        const dialFailure = stage.dialFailure(error);
        if (dialFailure !== undefined) {
          fail(dialFailure);
          return;
        }
        const reason = reasonOfCode(error.code ?? error.message);
        // A kept-alive connection the backend had just closed: no failure of the server, and it may be tried again.
        const stale = upstream.reusedSocket && (error.code === "ECONNRESET" || error.code === "EPIPE");
        fail(new UpstreamNoAnswerError(label, reason), !stale, stale);
      });
      upstream.on("response", (answer: IncomingMessage) => {
        if (settled) {
          answer.destroy();
          return;
        }
        const status = answer.statusCode ?? 502;
        this.relayAnswer(context, upstream, answer);
        settle({ kind: "answered", answer: { status } });
      });
    });
  }

  /** Streams the backend's answer to the client; either side leaving ends the other. */
  private relayAnswer(context: PlainRequestContext, upstream: http.ClientRequest, answer: IncomingMessage): void {
    const { res } = context;
    const status = answer.statusCode ?? 502;
    const http2 = isHttp2(context.req);
    const headers = proxyResponseHeaders(answer, http2);
    try {
      // HTTP/2 has no reason phrase (RFC 9113 §8.3.2): Node would warn on one.
      if (!http2 && answer.statusMessage !== undefined && answer.statusMessage !== "") {
        res.writeHead(status, answer.statusMessage, headers);
      } else {
        res.writeHead(status, headers);
      }
    } catch (error) {
      // A head the client's protocol cannot carry (headers.ts removes every kind known): cut this request only.
      context.log.warn({ event: "proxy_answer_unsendable", err: error }, "backend answer head cannot be relayed");
      answer.destroy();
      upstream.destroy();
      res.destroy();
      return;
    }
    answer.pipe(res);
    // The backend vanished in the middle of the body: the client must not take a cut body for a whole one.
    answer.on("aborted", () => res.destroy());
    answer.on("error", () => res.destroy());
    res.on("close", () => {
      if (!answer.complete) {
        answer.destroy();
        upstream.destroy();
      }
    });
  }

  /**
   * Stops the pools' health checks and closes the idle kept-alive connections; requests in flight finish (on a
   * reload), and their connections close after them.
   */
  close(): void {
    for (const entry of this.pools.all) {
      entry.pool.close();
      closeIdle(entry.http);
      closeIdle(entry.https);
    }
  }
}

function closeIdle(agent: http.Agent): void {
  // With no room for free sockets, Node's agent closes each connection when its response is done.
  agent.maxFreeSockets = 0;
  for (const sockets of Object.values(agent.freeSockets)) {
    for (const socket of sockets ?? []) socket.destroy();
  }
}
