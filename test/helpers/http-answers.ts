// Reads HTTP/1.x answers off raw bytes as a client on a pipelined connection would: in order, 1xx interim answers
// skipped, a 101 or an answer saying `Connection: close` ending the line.
import net from "node:net";

export interface RawAnswer {
  status: number;
  /** Header values by lowercase name (the last one of a name). */
  headers: Map<string, string>;
  body: Buffer;
}

export interface AnswerLine {
  answers: RawAnswer[];
  /** Nothing more can follow: a 101, a `Connection: close`, or a body running to the close. */
  ended: boolean;
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})/;

/**
 * The complete answers at the start of `bytes`. `bodyless(index, headers)` tells whether the index-th final answer
 * has no body whatever its headers say (the answer to a HEAD).
 */
export function readAnswers(
  bytes: Buffer,
  bodyless: (index: number, headers: Map<string, string>) => boolean,
): AnswerLine {
  const answers: RawAnswer[] = [];
  let at = 0;
  for (let guard = 0; guard < 1000; guard++) {
    const end = bytes.indexOf("\r\n\r\n", at);
    if (end < 0) return { answers, ended: false };
    const lines = bytes.toString("latin1", at, end).split("\r\n");
    const status = Number(STATUS_LINE.exec(lines[0] ?? "")?.[1] ?? 0);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    at = end + 4;
    if (status >= 100 && status < 200 && status !== 101) continue;
    const closes = (headers.get("connection") ?? "").toLowerCase().includes("close");
    if (status === 101 || status === 0) {
      answers.push({ status, headers, body: Buffer.alloc(0) });
      return { answers, ended: true };
    }
    const length = headers.get("content-length");
    let body: Buffer;
    if (bodyless(answers.length, headers) || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if ((headers.get("transfer-encoding") ?? "").toLowerCase().includes("chunked")) {
      const chunked = readChunked(bytes, at);
      if (chunked === undefined) return { answers, ended: false };
      body = chunked.body;
      at = chunked.next;
    } else if (length !== undefined) {
      if (bytes.length < at + Number(length)) return { answers, ended: false };
      body = bytes.subarray(at, at + Number(length));
      at += Number(length);
    } else {
      answers.push({ status, headers, body: bytes.subarray(at) });
      return { answers, ended: true };
    }
    answers.push({ status, headers, body });
    if (closes) return { answers, ended: true };
  }
  return { answers, ended: true };
}

function readChunked(bytes: Buffer, start: number): { body: Buffer; next: number } | undefined {
  const parts: Buffer[] = [];
  let at = start;
  for (let guard = 0; guard < 10_000; guard++) {
    const lineEnd = bytes.indexOf("\r\n", at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(bytes.toString("latin1", at, lineEnd).split(";")[0] ?? "", 16);
    if (!Number.isFinite(size)) return undefined;
    at = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = bytes.indexOf("\r\n", at);
      if (trailerEnd < 0) return undefined;
      // Trailers are skipped up to the empty line.
      const end = trailerEnd === at ? at : bytes.indexOf("\r\n\r\n", at);
      if (end < 0) return undefined;
      return { body: Buffer.concat(parts), next: end === at ? at + 2 : end + 4 };
    }
    if (bytes.length < at + size + 2) return undefined;
    parts.push(bytes.subarray(at, at + size));
    at += size + 2;
  }
  return undefined;
}

export interface PipelinedExchange extends AnswerLine {
  /** The server closed the connection. */
  closed: boolean;
}

/** How long to wait for more answers once the expected ones came (a server may read more requests than were meant). */
const QUIET_MS = 60;

/**
 * Sends `request` on a fresh connection and reads answers until `expected` final answers came and nothing more for a
 * moment, the line ended, the server closed, or `ms` passed.
 */
export function exchangePipelined(
  port: number,
  request: Buffer,
  expected: number,
  bodyless: (index: number, headers: Map<string, string>) => boolean,
  ms = 1500,
): Promise<PipelinedExchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = Buffer.alloc(0);
    let settled = false;
    let quiet: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(quiet);
      socket.destroy();
      resolve({ ...readAnswers(received, bodyless), closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const line = readAnswers(received, bodyless);
      clearTimeout(quiet);
      if (line.ended) finish(false);
      else if (line.answers.length >= expected) quiet = setTimeout(() => finish(false), QUIET_MS);
    });
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    socket.write(request);
  });
}
