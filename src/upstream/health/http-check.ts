// The HTTP check: one plain request (Node's http client, no keep-alive) whose status, headers and body must match.
// Its connection is dialled as sessions dial theirs (upstream/connect/dial.ts): the same TCP and TLS path, SNI included.
import http, { type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { dial } from "../connect/dial.js";
import type { UpstreamServer } from "../server.js";
import { BodyRule, HeaderRules, statusProblem } from "./match.js";
import { reasonOfError } from "./reasons.js";
import { checkTarget, type CheckTlsResolver } from "./target.js";
import type { CheckOutcome, HttpCheckSpec } from "./types.js";

/** Most of a body that is read for `match.body`; a longer body is matched on its first 64 KiB. */
export const BODY_LIMIT = 64 * 1024;

export class HttpCheck {
  readonly #spec: HttpCheckSpec;
  readonly #headerRules: HeaderRules;
  readonly #bodyRule: BodyRule | undefined;
  readonly #tlsFor: CheckTlsResolver;

  constructor(spec: HttpCheckSpec, tlsFor: CheckTlsResolver = () => undefined) {
    this.#spec = spec;
    this.#headerRules = new HeaderRules(spec.match.headers);
    this.#bodyRule = spec.match.body === undefined ? undefined : new BodyRule(spec.match.body);
    this.#tlsFor = tlsFor;
  }

  /** Settles within `timeoutMs` (or when `signal` aborts) and never rejects. */
  run(server: UpstreamServer, timeoutMs: number, signal: AbortSignal): Promise<CheckOutcome> {
    const spec = this.#spec;
    const target = checkTarget(server, spec.port, spec.uri);
    return new Promise<CheckOutcome>((resolve) => {
      let request: ClientRequest | undefined;
      let settled = false;
      const finish = (outcome: CheckOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        request?.destroy();
        resolve(outcome);
      };
      const fail = (reason: string): void => finish({ ok: false, reason: `http check: ${reason}` });
      const onAbort = (): void => fail("stopped");
      const timer = setTimeout(() => fail("timeout"), timeoutMs).unref();
      signal.addEventListener("abort", onAbort);
      if (signal.aborted) return onAbort();

      const headers: OutgoingHttpHeaders = { ...spec.headers, Connection: "close" };
      if (spec.body !== undefined) headers["Content-Length"] = Buffer.byteLength(spec.body);
      const url = new URL(`${target.secure ? "https" : "http"}://${target.urlHost}:${target.port}`);
      const tls = target.secure ? this.#tlsFor(server) : undefined;
      const options: http.RequestOptions = {
        host: target.hostname,
        port: target.port,
        // The Host header leaves out the scheme's own port, as https.request's would for 443.
        defaultPort: target.secure ? 443 : 80,
        method: spec.method,
        path: target.path,
        headers,
        // No agent: a fresh connection per check, made by `createConnection` (an agent would dial its own).
        ...(spec.username !== undefined ? { auth: `${spec.username}:${spec.password ?? ""}` } : {}),
        createConnection: () => dial({ url, tls }),
      };
      try {
        request = http.request(options);
      } catch (error) {
        fail(reasonOfError(error));
        return;
      }
      request.on("error", (error) => fail(reasonOfError(error)));
      request.on("response", (response) => this.#judge(response, fail, () => finish({ ok: true })));
      request.end(spec.body);
    });
  }

  #judge(response: IncomingMessage, fail: (reason: string) => void, pass: () => void): void {
    response.on("error", (error) => fail(reasonOfError(error)));
    const problem =
      statusProblem(response.statusCode ?? 0, this.#spec.match.statusCodes) ??
      this.#headerRules.problem(response.headers);
    const bodyRule = this.#bodyRule;
    if (problem !== undefined || bodyRule === undefined) {
      response.resume();
      if (problem === undefined) pass();
      else fail(problem);
      return;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    const judgeBody = (): void => {
      const bodyProblem = bodyRule.problem(Buffer.concat(chunks).toString("utf8"));
      if (bodyProblem === undefined) pass();
      else fail(bodyProblem);
    };
    response.on("data", (chunk: Buffer) => {
      if (length >= BODY_LIMIT) return;
      chunks.push(chunk.subarray(0, BODY_LIMIT - length));
      length += chunk.length;
      if (length >= BODY_LIMIT) judgeBody();
    });
    response.on("end", judgeBody);
    response.on("close", () => {
      if (!response.complete) fail("connection closed in the body");
    });
  }
}
