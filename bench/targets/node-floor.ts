/**
 * The floor of a WebSocket proxy in Node, for `npm run bench`: what Node itself costs per connection when the proxy
 * does nothing but tunnel. It reads nothing: the client's first bytes go to a new backend connection as they came,
 * then bytes are copied both ways until each side has ended. No parsing, routing, limits or timers; not a proxy to
 * deploy. Two ways of holding a connection:
 *
 * - `sockets`: `net.Socket` with 'data' → `write()`, as every Node proxy (http-proxy, wsgate) holds its connections;
 * - `handles`: libuv's TCP handles through `process.binding("tcp_wrap")` with an `onread` of their own: no stream
 *   objects, no 'data' events, no write queue; what is left is libuv, the kernel and one JavaScript entry per read.
 *   It never stops reading (no backpressure): enough for the bench's loads, where each side answers before the
 *   next message, and one reason it is a floor, not a proxy.
 *
 * Usage: `node dist/bench/targets/node-floor.js sockets|handles PORT BACKEND_PORT [CERT_FILE KEY_FILE]`; with the
 * two files (sockets only) it terminates TLS first, as Node's `tls` server does by default (tickets on).
 */
import { readFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";

const [mode, portText, backendText, certFile, keyFile] = process.argv.slice(2);
const port = Number(portText);
const backendPort = Number(backendText);
const tls = certFile !== undefined && keyFile !== undefined;
if (
  (mode !== "sockets" && mode !== "handles") ||
  !Number.isInteger(port) ||
  !Number.isInteger(backendPort) ||
  (tls && mode !== "sockets")
) {
  process.stderr.write("usage: node-floor.js sockets|handles PORT BACKEND_PORT [CERT_FILE KEY_FILE] (TLS: sockets)\n");
  process.exit(2);
}

// SIGTERM (how the bench stops it) exits normally, so that a --cpu-prof profile is written.
process.on("SIGTERM", () => process.exit(0));
if (mode === "sockets") serveWithSockets();
else serveWithHandles();

function serveWithSockets(): void {
  const tunnel = (client: Socket): void => {
    client.setNoDelay(true);
    client.on("error", () => client.destroy());
    client.once("data", (head: Buffer) => {
      const backend = connect({ port: backendPort, host: "127.0.0.1", noDelay: true });
      backend.on("error", () => backend.destroy());
      backend.write(head);
      relay(client, backend);
      relay(backend, client);
    });
  };
  const server = tls
    ? createTlsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: "TLSv1.3" }, tunnel)
    : createServer(tunnel);
  server.listen({ port, host: "127.0.0.1", backlog: 4096 });
}

/** Bytes from `from` to `to`, with backpressure; `from` ending ends `to`, either closing closes the other. */
function relay(from: Socket, to: Socket): void {
  from.on("data", (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on("drain", () => from.resume());
  from.on("end", () => to.end());
  from.on("close", () => to.destroy());
}

/** libuv's TCP handle as Node's internals use it; the subset this file calls. */
interface TcpHandle {
  onread: (buffer: ArrayBuffer | undefined) => void;
  onconnection: (status: number, client: TcpHandle | undefined) => void;
  bind(address: string, port: number): number;
  listen(backlog: number): number;
  connect(request: object, address: string, port: number): number;
  readStart(): number;
  setNoDelay(on: boolean): number;
  writeBuffer(request: object, data: Buffer): number;
  shutdown(request: object): number;
  close(callback?: () => void): void;
}
interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => { oncomplete: (status: number) => void };
  constants: { SOCKET: number; SERVER: number };
}
interface StreamWrapBinding {
  WriteWrap: new () => { handle: TcpHandle; oncomplete: () => void; buffer: Buffer | undefined };
  ShutdownWrap: new () => { handle: TcpHandle; oncomplete: () => void };
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
}
type Binding = (name: string) => unknown;

/** One side of a tunnel over raw handles: its peer, and whether each direction has ended. */
interface HandleEnd {
  handle: TcpHandle;
  peer: HandleEnd | undefined;
  ended: boolean;
  closed: boolean;
  /** On the backend's side: the client's bytes that arrive before it has connected. */
  waiting: Buffer[] | undefined;
}

function serveWithHandles(): void {
  const binding = (process as unknown as { binding: Binding }).binding;
  const tcp = binding("tcp_wrap") as TcpWrapBinding;
  const stream = binding("stream_wrap") as StreamWrapBinding;
  const state = stream.streamBaseState;

  const write = (to: HandleEnd, data: Buffer): void => {
    if (to.closed) return;
    const request = new stream.WriteWrap();
    request.handle = to.handle;
    // Kept until the write completes, when it completes later (libuv reads it then).
    request.buffer = data;
    request.oncomplete = () => undefined;
    if (to.handle.writeBuffer(request, data) !== 0) closeBoth(to);
  };
  const close = (end: HandleEnd): void => {
    if (end.closed) return;
    end.closed = true;
    end.handle.close();
  };
  const closeBoth = (end: HandleEnd): void => {
    close(end);
    if (end.peer !== undefined) close(end.peer);
  };
  const ended = (end: HandleEnd): void => {
    end.ended = true;
    const peer = end.peer;
    if (peer === undefined || peer.ended) {
      closeBoth(end);
      return;
    }
    const request = new stream.ShutdownWrap();
    request.handle = peer.handle;
    request.oncomplete = () => undefined;
    if (peer.handle.shutdown(request) !== 0) closeBoth(end);
  };
  const readInto = (end: HandleEnd, deliver: (data: Buffer) => void) => (buffer: ArrayBuffer | undefined) => {
    const count = state[stream.kReadBytesOrError] ?? -1;
    if (count < 0 || buffer === undefined) {
      ended(end);
      return;
    }
    deliver(Buffer.from(buffer, state[stream.kArrayBufferOffset] ?? 0, count));
  };

  const server = new tcp.TCP(tcp.constants.SERVER);
  if (server.bind("127.0.0.1", port) !== 0 || server.listen(4096) !== 0) {
    process.stderr.write(`node-floor: cannot listen on 127.0.0.1:${port}\n`);
    process.exit(1);
  }
  server.onconnection = (status, handle) => {
    if (status !== 0 || handle === undefined) return;
    handle.setNoDelay(true);
    const client: HandleEnd = { handle, peer: undefined, ended: false, closed: false, waiting: undefined };
    handle.onread = readInto(client, (data) => {
      if (client.peer === undefined) openBackend(client);
      const backend = client.peer;
      if (backend?.waiting !== undefined) backend.waiting.push(data);
      else if (backend !== undefined) write(backend, data);
    });
    handle.readStart();
  };

  const openBackend = (client: HandleEnd): void => {
    const handle = new tcp.TCP(tcp.constants.SOCKET);
    const backend: HandleEnd = { handle, peer: client, ended: false, closed: false, waiting: [] };
    client.peer = backend;
    const request = new tcp.TCPConnectWrap();
    request.oncomplete = (status) => {
      if (status !== 0) {
        closeBoth(client);
        return;
      }
      handle.setNoDelay(true);
      for (const data of backend.waiting ?? []) write(backend, data);
      backend.waiting = undefined;
      handle.onread = readInto(backend, (data) => write(client, data));
      handle.readStart();
    };
    if (handle.connect(request, "127.0.0.1", backendPort) !== 0) closeBoth(client);
  };
}
