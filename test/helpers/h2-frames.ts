// A tiny HTTP/2 frame writer and reader (RFC 9113 §4, HPACK literals only, RFC 7541 §6.2.2): node:http2's client
// refuses to misbehave, so the flood tests write their frames by hand on a plain socket.
import net from "node:net";
import tls from "node:tls";

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

/** RFC 9113 §7 error codes the tests look for. */
export const H2Error = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  ENHANCE_YOUR_CALM: 11,
} as const;

export function h2frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an `prefix`-bit prefix (RFC 7541 §5.1), first byte's high bits zero. */
function hpackInt(value: number, prefix: number): number[] {
  const max = (1 << prefix) - 1;
  if (value < max) return [value];
  const bytes = [max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  return Buffer.concat([Buffer.from(hpackInt(bytes.length, 7)), bytes]);
}

/** A header block of literals without indexing, new names (no Huffman): every field spelled out. */
export function headerBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0]), hpackString(name), hpackString(value)]));
}

export function getRequest(path = "/", authority = "localhost"): Array<[string, string]> {
  return [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", path],
    [":authority", authority],
  ];
}

export function settingsFrame(settings: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const payload = Buffer.alloc(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return h2frame(FrameType.SETTINGS, 0, 0, payload);
}

export function rstStream(stream: number, code: number = H2Error.CANCEL): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code, 0);
  return h2frame(FrameType.RST_STREAM, 0, stream, payload);
}

export function ping(data = 0): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(data >>> 0, 4);
  return h2frame(FrameType.PING, 0, 0, payload);
}

export interface ReadFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** A raw HTTP/2 client connection: the preface and an empty SETTINGS are sent on connect; frames read are kept. */
export class RawH2 {
  readonly frames: ReadFrame[] = [];
  closed = false;
  /** The socket's error code, if it had one. */
  errorCode: string | undefined;
  #buffer = Buffer.alloc(0);
  readonly #waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => (this.errorCode = error.code));
  }

  /**
   * The server reset the connection. A server that closes while a flood is still arriving sends a reset after its
   * GOAWAY, and Linux drops what the client had not read yet when the reset comes: the GOAWAY can be lost with it.
   * The reset shows as ECONNRESET on a read, or as EPIPE on the flood's next write when that comes first.
   */
  get resetByPeer(): boolean {
    return this.errorCode === "ECONNRESET" || this.errorCode === "EPIPE";
  }

  static async connect(port: number, options: { tls?: boolean } = {}): Promise<RawH2> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      const connected = options.tls
        ? tls.connect({ port, host: "127.0.0.1", ALPNProtocols: ["h2"], rejectUnauthorized: false }, () =>
            resolve(connected),
          )
        : net.connect(port, "127.0.0.1", () => resolve(connected));
      connected.once("error", onError);
    });
    const client = new RawH2(socket);
    socket.write(Buffer.concat([PREFACE, settingsFrame()]));
    return client;
  }

  write(bytes: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  /**
   * Writes `count` copies of what `make(i)` returns, `batch` at a time every `everyMs`: a flood paced so that nghttp2's
   * own queue limits (which only catch a burst in one read) do not stop it first. Stops when the server closes.
   */
  async flood(count: number, make: (i: number) => Buffer, batch = 50, everyMs = 5): Promise<number> {
    let sent = 0;
    while (sent < count && !this.closed) {
      const parts: Buffer[] = [];
      for (let i = 0; i < batch && sent < count; i++, sent++) parts.push(make(sent));
      this.write(Buffer.concat(parts));
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
    return sent;
  }

  goaway(): { lastStream: number; code: number } | undefined {
    const frame = this.frames.find((f) => f.type === FrameType.GOAWAY);
    if (frame === undefined) return undefined;
    return { lastStream: frame.payload.readUInt32BE(0) & 0x7fffffff, code: frame.payload.readUInt32BE(4) };
  }

  resets(): Array<{ stream: number; code: number }> {
    return this.frames
      .filter((f) => f.type === FrameType.RST_STREAM)
      .map((f) => ({ stream: f.stream, code: f.payload.readUInt32BE(0) }));
  }

  /** Resolves once `check` holds (checked on each frame and on close), or rejects after `ms`. */
  until(check: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      const test = (): void => {
        if (check()) {
          clearTimeout(timer);
          resolve();
          return;
        }
        if (this.closed) {
          clearTimeout(timer);
          reject(new Error(`connection closed before ${what}`));
          return;
        }
        this.#waiters.push(test);
      };
      test();
    });
  }

  /** Resolves when the server has closed the connection, or rejects after `ms`. */
  untilClosed(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return resolve();
      const timer = setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms);
      this.socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) break;
      this.frames.push({
        type: this.#buffer[3] as number,
        flags: this.#buffer[4] as number,
        stream: this.#buffer.readUInt32BE(5) & 0x7fffffff,
        payload: this.#buffer.subarray(9, 9 + length),
      });
      this.#buffer = this.#buffer.subarray(9 + length);
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.#waiters.splice(0);
    for (const waiter of waiters) waiter();
  }
}
