/**
 * The one listener that keeps a socket's errors (resets, broken pipes) from being unhandled events while nobody else
 * listens: one function for the whole process, so that the WebSocket relay, which handles a connection's errors
 * itself, can take it off again (an `error` listener array per socket is 64 B of every idle session).
 */
export function ignoreStreamError(): void {}
