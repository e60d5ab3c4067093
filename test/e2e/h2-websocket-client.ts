// A WebSocket client over HTTP/2 speaking RFC 8441 by hand with node:http2: an extended CONNECT stream, then masked
// frames as DATA. Kept small and explicit so that tests can misbehave on purpose (stop reading, reset, send junk).
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from "node:http2";
import { decodeFrames, frame, type DecodedFrame } from "../helpers/frames.js";
import { withTimeout } from "../helpers/net.js";

export interface H2Connection {
  session: ClientHttp2Session;
  /** The server's SETTINGS as first received. */
  settings: http2.Settings;
}

/** Connects and waits for the server's first SETTINGS. `ca`: the test CA for https:// URLs. */
export async function connectH2(url: string, ca?: string): Promise<H2Connection> {
  const session = http2.connect(url, ca === undefined ? {} : { ca, servername: "localhost" });
  session.on("error", () => undefined);
  const settings = await withTimeout(
    new Promise<http2.Settings>((resolve, reject) => {
      session.once("remoteSettings", resolve);
      session.once("error", reject);
    }),
    5000,
    "the server's SETTINGS",
  );
  return { session, settings };
}

export interface H2Answer {
  stream: ClientHttp2Stream;
  status: number;
  headers: IncomingHttpHeaders;
}

/**
 * Opens an extended CONNECT (`:protocol: websocket` unless `pseudo` says otherwise) and waits for the response
 * headers. `headers` adds fields (sec-websocket-version 13 is sent unless given as null).
 */
export function openStream(
  session: ClientHttp2Session,
  path: string,
  headers: Record<string, string | null> = {},
  pseudo: Record<string, string | null> = {},
): Promise<H2Answer> {
  const fields: Record<string, string> = {};
  const all: Record<string, string | null> = {
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": "https",
    ":path": path,
    ":authority": "localhost",
    "sec-websocket-version": "13",
    ...pseudo,
    ...headers,
  };
  for (const [name, value] of Object.entries(all)) if (value !== null) fields[name] = value;
  const stream = session.request(fields, { endStream: false });
  stream.on("error", () => undefined);
  return withTimeout(
    new Promise<H2Answer>((resolve, reject) => {
      stream.once("response", (answer) => resolve({ stream, status: Number(answer[":status"]), headers: answer }));
      stream.once("close", () => reject(new Error(`stream closed before a response (code ${stream.rstCode})`)));
    }),
    5000,
    `the answer to CONNECT ${path}`,
  );
}

/** Reads a stream's DATA as WebSocket frames; `next()` waits for the next one. */
export class FrameReader {
  private bytes = Buffer.alloc(0);
  private readonly frames: DecodedFrame[] = [];
  private waiter: (() => void) | undefined;
  ended = false;

  constructor(readonly stream: ClientHttp2Stream) {
    stream.on("data", (chunk: Buffer) => {
      this.bytes = Buffer.concat([this.bytes, chunk]);
      this.parse();
      this.waiter?.();
    });
    const onEnd = (): void => {
      this.ended = true;
      this.waiter?.();
    };
    stream.on("end", onEnd);
    stream.on("close", onEnd);
  }

  /** Whole frames only: a partial one waits for its rest. */
  private parse(): void {
    for (;;) {
      const length = wholeFrameLength(this.bytes);
      if (length === 0) return;
      this.frames.push(...decodeFrames(this.bytes.subarray(0, length)));
      this.bytes = this.bytes.subarray(length);
    }
  }

  async next(ms = 5000): Promise<DecodedFrame | undefined> {
    const deadline = Date.now() + ms;
    while (this.frames.length === 0 && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no frame in time");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.frames.shift();
  }
}

function wholeFrameLength(bytes: Buffer): number {
  if (bytes.length < 2) return 0;
  const b1 = bytes[1] as number;
  let length = b1 & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (bytes.length < 4) return 0;
    length = bytes.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (bytes.length < 10) return 0;
    length = bytes.readUInt32BE(2) * 2 ** 32 + bytes.readUInt32BE(6);
    offset = 10;
  }
  if ((b1 & 0x80) !== 0) offset += 4;
  return bytes.length >= offset + length ? offset + length : 0;
}

/** A masked text frame, as a client sends it. */
export function textFrame(text: string): Buffer {
  return frame({ opcode: 1, payload: text, mask: true });
}

/** A masked close frame. */
export function closeFrame(code: number, reason = ""): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return frame({ opcode: 8, payload, mask: true });
}

/** The body of a refused stream, read to its end. */
export function bodyOf(stream: ClientHttp2Stream, ms = 5000): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      let text = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => (text += chunk));
      stream.on("end", () => resolve(text));
      stream.on("close", () => resolve(text));
    }),
    ms,
    "the refusal's body",
  );
}
