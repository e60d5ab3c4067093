/**
 * The frame parser (FrameStream, compiled in dist/src/websocket) fed prebuilt frames: how many ns of CPU one
 * frame costs and what payload rate that is, for small and 16 KiB frames, masked client frames and server
 * frames, whole batches and batches cut at various positions.
 */
import { Writable } from "node:stream";
import { FrameOutbox } from "../../src/websocket/frame-outbox.js";
import { FrameStream, type FrameStreamHandler, type FrameStreamOptions } from "../../src/websocket/frame-stream.js";
import { fixedChunks, frameBatch, splitHeaders, type FrameBatch } from "./frames.js";
import { timeCase, type CaseResult, type Timing } from "./timing.js";

/** The peer's socket: counts what the parser passes on and drops it (the socket's own cost is not measured). */
class CountingSink extends Writable {
  written = 0;

  override write(chunk: unknown, ..._rest: unknown[]): boolean {
    this.written += (chunk as Buffer).length;
    return true;
  }
}

const HANDLER: FrameStreamHandler = {
  onControlFrame: () => {
    throw new Error("the benchmark's frames hold no control frame");
  },
  onFrameError: (_stream, failure) => {
    throw new Error(`the parser rejected a benchmark frame: ${failure}`);
  },
  onDataFrame: () => 0,
  onFrameHeld: () => {},
};

function options(fromClient: boolean, aware: boolean): FrameStreamOptions {
  return {
    fromClient,
    // The aware case: a message size limit to keep and the time of each data frame to record.
    maxMessageSize: aware ? 1 << 20 : -1,
    firstFrameRsv: 0,
    anyRsv: false,
    trackActivity: aware,
    gateDataFrames: false,
    policy: null,
  };
}

interface ParserCase {
  name: string;
  batch: FrameBatch;
  chunks: Buffer[];
  aware: boolean;
}

function cases(): ParserCase[] {
  const small = frameBatch(1000, 64, true);
  const smallServer = frameBatch(1000, 64, false);
  const large = frameBatch(64, 16 * 1024, true);
  const one = (name: string, batch: FrameBatch, chunks: Buffer[], aware = false): ParserCase => ({
    name,
    batch,
    chunks,
    aware,
  });
  return [
    one("64 B server frames, one read", smallServer, [smallServer.bytes]),
    one("64 B masked client frames, one read", small, [small.bytes]),
    one("64 B masked, one read, aware (size limit, activity)", small, [small.bytes], true),
    one("64 B masked, 1460 B reads", small, fixedChunks(small, 1460)),
    one("64 B masked, every header split after 1 B", small, splitHeaders(small, 1)),
    one("64 B masked, every header split after 3 B", small, splitHeaders(small, 3)),
    one("16 KiB masked, one read", large, [large.bytes]),
    one("16 KiB masked, 64 KiB reads", large, fixedChunks(large, 64 * 1024)),
    one("16 KiB masked, 1460 B reads", large, fixedChunks(large, 1460)),
    one("16 KiB masked, every header split after 1 B", large, splitHeaders(large, 1)),
  ];
}

export function frameParserCases(timing: Timing): CaseResult[] {
  return cases().map((parserCase) => {
    const sink = new CountingSink();
    const stream = new FrameStream(options(parserCase.batch.masked, parserCase.aware), new FrameOutbox(sink), HANDLER);
    const chunks = parserCase.chunks;
    const batch = (): void => {
      for (const chunk of chunks) stream.push(chunk);
    };
    // Every frame must come out whole and counted, or the figure would be for some other work.
    batch();
    if (stream.messages !== parserCase.batch.frames || sink.written !== parserCase.batch.bytes.length)
      throw new Error(`${parserCase.name}: ${stream.messages} frames and ${sink.written} bytes passed on`);
    return timeCase(`parser: ${parserCase.name}`, batch, parserCase.batch.frames, parserCase.batch.payloadSize, timing);
  });
}
