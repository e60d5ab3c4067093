// The WebSocket check: the backend upgrade every session makes (upstream/connect), so that a server passes its check
// only if sessions would take its answer too; the answer must match, then the connection closes with 1000.
import type { IncomingHttpHeaders } from "node:http";
import type { Socket } from "node:net";
import { GatewayError } from "../../errors.js";
import { encodeCloseFrame } from "../../websocket/frame-writer.js";
import { newHandshakeKey, type ClientUpgrade } from "../../websocket/handshake.js";
import { connectBackendUpgrade, type BackendUpgradeResult } from "../connect/backend-upgrade.js";
import { failureReason } from "../connect/failure.js";
import type { UpstreamServer } from "../server.js";
import { HeaderRules, statusProblem } from "./match.js";
import { reasonOfError } from "./reasons.js";
import { checkTarget, type CheckTarget, type CheckTlsResolver } from "./target.js";
import type { CheckOutcome, WsCheckSpec } from "./types.js";

/** Headers the check computes itself; the spec's copies are not sent. */
const OWN_HEADERS = new Set(["upgrade", "connection", "sec-websocket-key", "sec-websocket-version"]);

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
    return new Promise<CheckOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: CheckOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve(outcome);
      };
      const fail = (reason: string): void => finish({ ok: false, reason: `ws check: ${reason}` });
      let abortHandshake = (): void => {};
      const onAbort = (): void => {
        fail("stopped");
        abortHandshake();
      };
      // Created before the connector's own timers, so that a check that runs out of time says "timeout".
      const timer = setTimeout(() => {
        fail("timeout");
        abortHandshake();
      }, timeoutMs).unref();
      signal.addEventListener("abort", onAbort);
      if (signal.aborted) return onAbort();

      const key = newHandshakeKey();
      let handshake;
      try {
        const headers = this.#requestHeaders(target, key);
        handshake = connectBackendUpgrade(
          {
            url: new URL(`${target.secure ? "wss" : "ws"}://${target.urlHost}:${target.port}${target.path}`),
            label: `${target.urlHost}:${target.port}`,
            target: target.path,
            headers: headers.list,
            dialTimeout: timeoutMs,
            handshakeTimeout: timeoutMs,
            tls: target.secure ? this.#tlsFor(server) : undefined,
          },
          { key, offered: headers.offered },
        );
      } catch (error) {
        fail(reasonOfError(error));
        return;
      }
      abortHandshake = handshake.abort;
      handshake.result.then(
        (result) => {
          // Too late (timed out, stopped): the connection is let go at once.
          if (settled) discard(result);
          else this.#judge(result, timeoutMs, finish, fail);
        },
        (error: unknown) => fail(error instanceof GatewayError ? failureReason(error) : reasonOfError(error)),
      );
    });
  }

  /** The request's headers (Host first, as Node's client writes it, then the spec's, then the upgrade's own). */
  #requestHeaders(target: CheckTarget, key: string): { list: Array<[string, string]>; offered: ClientUpgrade } {
    const defaultPort = target.secure ? 443 : 80;
    const list: Array<[string, string]> = [];
    const given = Object.entries(this.#spec.headers).filter(([name]) => !OWN_HEADERS.has(name.toLowerCase()));
    if (!given.some(([name]) => name.toLowerCase() === "host")) {
      list.push(["Host", target.port === defaultPort ? target.urlHost : `${target.urlHost}:${target.port}`]);
    }
    list.push(...given);
    list.push(["Upgrade", "websocket"], ["Connection", "Upgrade"]);
    list.push(["Sec-WebSocket-Key", key], ["Sec-WebSocket-Version", "13"]);
    const protocols = given
      .filter(([name]) => name.toLowerCase() === "sec-websocket-protocol")
      .flatMap(([, value]) => value.split(","))
      .map((protocol) => protocol.trim())
      .filter((protocol) => protocol.length > 0);
    // Extensions the spec offers are offered; without any, a backend that negotiates one fails, as in a session.
    const extensionNames = given
      .filter(([name]) => name.toLowerCase() === "sec-websocket-extensions")
      .flatMap(([, value]) => value.split(","))
      .map((offer) => (offer.split(";")[0] ?? "").trim().toLowerCase())
      .filter((name) => name.length > 0);
    return { list, offered: { key, protocols, extensionNames } };
  }

  #judge(
    result: BackendUpgradeResult,
    timeoutMs: number,
    finish: (outcome: CheckOutcome) => void,
    fail: (reason: string) => void,
  ): void {
    if (result.kind === "answered") {
      const problem = this.#problem(result.response.statusCode ?? 0, result.response.headers);
      if (problem === undefined) finish({ ok: true });
      else fail(problem);
      discard(result);
      return;
    }
    const problem = this.#problem(101, result.response.headers);
    if (problem === undefined) finish({ ok: true });
    else fail(problem);
    closeNormally(result.socket, timeoutMs);
  }

  #problem(status: number, headers: IncomingHttpHeaders): string | undefined {
    return statusProblem(status, this.#spec.match.statusCodes) ?? this.#headerRules.problem(headers);
  }
}

/** Ends a checked connection as a client should: a close frame with 1000, then a wait for the backend's reply. */
function closeNormally(socket: Socket, timeoutMs: number): void {
  // A backend that never answers our close frame does not keep the socket.
  const cut = setTimeout(() => socket.destroy(), timeoutMs).unref();
  socket.on("error", () => socket.destroy());
  socket.on("close", () => clearTimeout(cut));
  // Its close frame (and anything before it) is read and dropped; its FIN gets ours.
  socket.on("data", () => undefined);
  socket.on("end", () => socket.end());
  socket.resume();
  socket.write(encodeCloseFrame(1000, "", true));
}

function discard(result: BackendUpgradeResult): void {
  if (result.kind === "answered") result.response.destroy();
  else result.socket.destroy();
}
