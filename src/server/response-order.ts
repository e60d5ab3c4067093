// One request at a time per client connection. Node's server emits 'request' and 'upgrade' for pipelined requests as
// soon as it parses them, while the responses before them may still be on their way: an upgrade's 101 or refusal
// would reach the client first and be read as the earlier answer, and a request behind one that closes the connection
// would reach the backend although its answer can never be sent. Each waits here for the one before it to finish.
import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { isClosingConnection } from "../pipeline/context.js";

interface Line {
  /** A request of the connection is being served (its response is not complete yet, or it upgraded). */
  serving: boolean;
  /** The response of the plain request being served. */
  response: ServerResponse | undefined;
  /** Requests parsed behind it, in order. */
  waiting: Array<() => void>;
}

const lines = new WeakMap<object, Line>();

/**
 * Serves a request once every earlier request on `socket` is answered in full: `serve` runs then, and the turn ends
 * when `res` closes (an upgrade passes none: the connection is its own from then on). When the connection is closing
 * by then (an earlier answer said `Connection: close`, or the client left), `drop` runs instead.
 */
export function inTurn(socket: Duplex, res: ServerResponse | undefined, serve: () => void, drop: () => void): void {
  let line = lines.get(socket);
  if (line === undefined) {
    line = { serving: false, response: undefined, waiting: [] };
    lines.set(socket, line);
  }
  const current = line;
  const next = (): void => {
    current.serving = false;
    current.response = undefined;
    current.waiting.shift()?.();
  };
  const start = (): void => {
    if (socket.destroyed || !socket.writable || isClosingConnection(socket)) {
      drop();
      next();
      return;
    }
    current.serving = true;
    current.response = res;
    res?.once("close", next);
    serve();
  };
  if (current.serving) current.waiting.push(start);
  else start();
}

/**
 * The response of the request being served on `socket` while Node's parser is still inside that request's body: a
 * parse error now is that request's own, not one pipelined behind it.
 */
export function responseReadingBody(socket: Duplex): ServerResponse | undefined {
  const response = lines.get(socket)?.response;
  return response !== undefined && !response.req.complete ? response : undefined;
}
