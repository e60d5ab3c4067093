import { randomBytes } from "node:crypto";
import net from "node:net";
import { decodeFrames, type DecodedFrame } from "./frames.js";
import { withTimeout } from "./net.js";

/**
 * A WebSocket client by hand, for peers that misbehave on purpose: it does the handshake, then sends whatever
 * bytes a test gives it and decodes what comes back.
 */
export class RawWebSocket {
  private buffer: Buffer = Buffer.alloc(0);
  readonly closed: Promise<void>;

  private constructor(
    readonly socket: net.Socket,
    readonly responseHead: string,
    rest: Buffer,
  ) {
    this.buffer = rest;
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
    });
    this.closed = new Promise((resolve) => socket.on("close", () => resolve()));
  }

  static connect(port: number, path: string, extra = ""): Promise<RawWebSocket> {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    const request =
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
    socket.write(request);
    return withTimeout(
      new Promise<RawWebSocket>((resolve, reject) => {
        let received = Buffer.alloc(0);
        const onData = (chunk: Buffer): void => {
          received = Buffer.concat([received, chunk]);
          const end = received.indexOf("\r\n\r\n");
          if (end < 0) return;
          socket.off("data", onData);
          const head = received.subarray(0, end).toString("latin1");
          if (!head.startsWith("HTTP/1.1 101")) reject(new Error(`no 101: ${head}`));
          else resolve(new RawWebSocket(socket, head, received.subarray(end + 4)));
        };
        socket.on("data", onData);
      }),
      5000,
      "the 101",
    );
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Complete frames received so far. */
  frames(): DecodedFrame[] {
    return decodeFrames(this.buffer);
  }

  /** Waits until a frame passes `test`. */
  async waitForFrame(test: (frame: DecodedFrame) => boolean, ms = 5000): Promise<DecodedFrame> {
    return withTimeout(
      new Promise<DecodedFrame>((resolve) => {
        const check = (): boolean => {
          const found = this.frames().find(test);
          if (found === undefined) return false;
          resolve(found);
          return true;
        };
        if (check()) return;
        const onData = (): void => {
          if (check()) this.socket.off("data", onData);
        };
        this.socket.on("data", onData);
      }),
      ms,
      "a frame",
    );
  }
}
