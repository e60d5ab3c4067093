// Node's server emits 'upgrade' for a request pipelined behind plain requests as soon as it parses it, while their
// responses may still be on their way: anything written for the upgrade then (a 101, a refusal) would reach the
// client first and be taken for the earlier request's answer. An upgrade waits here for its turn.
import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

interface Turns {
  /** Responses on the connection not yet complete. */
  open: number;
  /** Upgrades parsed behind them, to run once none is open. */
  waiting: Array<() => void>;
}

const turnsBySocket = new WeakMap<object, Turns>();

/** Counts `res` as open on its connection until it is complete (or cut off). */
export function trackResponse(socket: object, res: ServerResponse): void {
  let turns = turnsBySocket.get(socket);
  if (turns === undefined) {
    turns = { open: 0, waiting: [] };
    turnsBySocket.set(socket, turns);
  }
  turns.open++;
  const state = turns;
  // 'close' follows 'finish' (whole response written to the socket) and also ends a cut-off one.
  res.once("close", () => {
    state.open--;
    if (state.open > 0) return;
    for (const run of state.waiting.splice(0)) run();
  });
}

/**
 * Runs `serve` once every response opened earlier on `socket` is complete, at once when none is; never when the
 * client's connection is gone by then (the socket is destroyed instead).
 */
export function inTurn(socket: Duplex, serve: () => void): void {
  const turns = turnsBySocket.get(socket);
  if (turns === undefined || turns.open === 0) {
    serve();
    return;
  }
  const onClose = (): void => {
    const index = turns.waiting.indexOf(run);
    if (index >= 0) turns.waiting.splice(index, 1);
  };
  const run = (): void => {
    socket.off("close", onClose);
    if (socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    serve();
  };
  socket.once("close", onClose);
  turns.waiting.push(run);
}
