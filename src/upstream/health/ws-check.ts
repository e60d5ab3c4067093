// The WebSocket check: a real handshake with the `ws` client; the answer must match, then the socket closes with 1000.
import type { IncomingMessage } from "node:http";
import WebSocket from "ws";
import type { UpstreamServer } from "../server.js";
import { HeaderRules, statusProblem } from "./match.js";
import { reasonOfError } from "./reasons.js";
import { checkTarget, type CheckTlsResolver } from "./target.js";
import type { CheckOutcome, WsCheckSpec } from "./types.js";

export class WsCheck {
  readonly #spec: WsCheckSpec;
  readonly #headerRules: HeaderRules;
  readonly #tlsFor: CheckTlsResolver;

  constructor(spec: WsCheckSpec, tlsFor: CheckTlsResolver = () => undefined) {
    this.#spec = spec;
    this.#headerRules = new HeaderRules(spec.match.headers);
    this.#tlsFor = tlsFor;
  }

  /** Settles within `timeoutMs` (or when `signal` aborts) and never rejects. */
  run(server: UpstreamServer, timeoutMs: number, signal: AbortSignal): Promise<CheckOutcome> {
    const spec = this.#spec;
    const target = checkTarget(server, spec.port, spec.uri);
    const url = `${target.secure ? "wss" : "ws"}://${target.urlHost}:${target.port}${target.path}`;
    return new Promise<CheckOutcome>((resolve) => {
      let socket: WebSocket | undefined;
      let settled = false;
      /** What the 101's status and headers said, judged before `ws` checks the rest of the handshake. */
      let verdict: CheckOutcome = { ok: true };
      const finish = (outcome: CheckOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve(outcome);
      };
      const fail = (reason: string): void => finish({ ok: false, reason: `ws check: ${reason}` });
      const onAbort = (): void => {
        fail("stopped");
        socket?.terminate();
      };
      const timer = setTimeout(() => {
        fail("timeout");
        socket?.terminate();
      }, timeoutMs).unref();
      signal.addEventListener("abort", onAbort);
      if (signal.aborted) return onAbort();

      try {
        socket = new WebSocket(url, {
          headers: { ...spec.headers },
          handshakeTimeout: timeoutMs,
          perMessageDeflate: false,
          followRedirects: false,
          maxPayload: 64 * 1024,
          ...(target.secure ? this.#tlsFor(server) : {}),
        });
      } catch (error) {
        fail(reasonOfError(error));
        return;
      }
      const ws = socket;
      // Errors after the verdict (a close handshake gone wrong) change nothing, but must have a listener.
      ws.on("error", (error) => fail(reasonOfError(error)));
      ws.on("upgrade", (response: IncomingMessage) => {
        const problem = this.#problem(101, response);
        if (problem !== undefined) verdict = { ok: false, reason: `ws check: ${problem}` };
      });
      ws.on("unexpected-response", (_request, response: IncomingMessage) => {
        const problem = this.#problem(response.statusCode ?? 0, response);
        if (problem === undefined) finish({ ok: true });
        else fail(problem);
        response.resume();
        ws.terminate();
      });
      ws.on("open", () => {
        finish(verdict);
        ws.close(1000);
        // A backend that never answers our close frame does not keep the socket.
        const cut = setTimeout(() => ws.terminate(), timeoutMs).unref();
        ws.once("close", () => clearTimeout(cut));
      });
      ws.on("close", () => fail("connection closed during the handshake"));
    });
  }

  #problem(status: number, response: IncomingMessage): string | undefined {
    return statusProblem(status, this.#spec.match.statusCodes) ?? this.#headerRules.problem(response.headers);
  }
}
