// Frames as a peer puts them on the wire, and fast-check generators of valid and invalid frame sequences.
// The generators describe frames (a small model that shrinks well); `encode` turns the model into bytes.
import fc from "fast-check";
import { FrameFailure, type FrameFailureKind } from "../../src/websocket/frame-error.js";
import { Opcode } from "../../src/websocket/protocol.js";

/** How the payload length is written: the shortest form, or a longer one (legal to parse, if not to send). */
export type LengthForm = "shortest" | "16" | "64";

export interface WireFrame {
  fin: boolean;
  /** RSV bits as the top nibble's low three bits (4 = RSV1). */
  rsv: number;
  opcode: number;
  payload: Buffer;
  /** Mask key for a masked frame; undefined for an unmasked one. */
  mask: Buffer | undefined;
  lengthForm: LengthForm;
  /** Overrides the encoded length (for frames that lie about it); the payload is then sent as given. */
  claimedLength?: number;
  /** Forces the high 32 bits of a 64-bit length (for the top-bit-set case). */
  high32?: number;
}

export function encodeFrame(frame: WireFrame): Buffer {
  const length = frame.claimedLength ?? frame.payload.length;
  let form = frame.lengthForm;
  if (form === "shortest") form = length < 126 ? "shortest" : length < 65536 ? "16" : "64";
  if (form === "16" && length > 0xffff) form = "64";
  if (frame.high32 !== undefined) form = "64";
  const extended = form === "shortest" ? 0 : form === "16" ? 2 : 8;
  const maskLength = frame.mask === undefined ? 0 : 4;
  const header = Buffer.alloc(2 + extended + maskLength);
  header[0] = (frame.fin ? 0x80 : 0) | ((frame.rsv & 7) << 4) | (frame.opcode & 0x0f);
  if (form === "shortest") header[1] = length;
  else if (form === "16") {
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 127;
    header.writeUInt32BE(frame.high32 ?? Math.floor(length / 2 ** 32), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  if (frame.mask === undefined) return Buffer.concat([header, frame.payload]);
  header[1] = (header[1] as number) | 0x80;
  frame.mask.copy(header, 2 + extended);
  const masked = Buffer.alloc(frame.payload.length);
  for (let i = 0; i < masked.length; i++) masked[i] = (frame.payload[i] as number) ^ (frame.mask[i & 3] as number);
  return Buffer.concat([header, masked]);
}

export function encodeFrames(frames: readonly WireFrame[]): Buffer {
  return Buffer.concat(frames.map(encodeFrame));
}

export interface ParsedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  /** Unmasked payload. */
  payload: Buffer;
  /** The frame's bytes exactly as they were on the wire. */
  raw: Buffer;
}

/** Parses complete frames off the front of `bytes`; `rest` is an incomplete frame left at the end. */
export function parseFrames(bytes: Buffer): { frames: ParsedFrame[]; rest: Buffer } {
  const frames: ParsedFrame[] = [];
  let pos = 0;
  for (;;) {
    if (bytes.length - pos < 2) break;
    const b0 = bytes[pos] as number;
    const b1 = bytes[pos + 1] as number;
    let length = b1 & 0x7f;
    let offset = pos + 2;
    if (length === 126) {
      if (bytes.length < offset + 2) break;
      length = bytes.readUInt16BE(offset);
      offset += 2;
    } else if (length === 127) {
      if (bytes.length < offset + 8) break;
      length = bytes.readUInt32BE(offset) * 2 ** 32 + bytes.readUInt32BE(offset + 4);
      offset += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const maskAt = offset;
    if (masked) offset += 4;
    if (bytes.length < offset + length) break;
    const payload = Buffer.from(bytes.subarray(offset, offset + length));
    if (masked)
      for (let i = 0; i < length; i++) payload[i] = (payload[i] as number) ^ (bytes[maskAt + (i & 3)] as number);
    frames.push({
      fin: (b0 & 0x80) !== 0,
      rsv: (b0 >> 4) & 7,
      opcode: b0 & 0x0f,
      masked,
      payload,
      raw: bytes.subarray(pos, offset + length),
    });
    pos = offset + length;
  }
  return { frames, rest: bytes.subarray(pos) };
}

export function isControl(opcode: number): boolean {
  return opcode >= Opcode.Close;
}

/** A frame as the receiving peer should see it: what must survive the relay. */
export interface FrameMeaning {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: string;
}

export function meaningOf(frame: { fin: boolean; rsv: number; opcode: number; payload: Buffer }): FrameMeaning {
  return { fin: frame.fin, rsv: frame.rsv, opcode: frame.opcode, payload: frame.payload.toString("hex") };
}

// ---- generators ----

/** Payload lengths around every boundary of the length encoding, and ordinary ones. */
const dataLength = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 2, 124, 125, 126, 127, 128, 65534, 65535, 65536, 65537) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 301, max: 70_000 }) },
);

/** A buffer that prints short in counterexamples: its length and first bytes, not every byte. */
export function printable(bytes: Buffer): Buffer {
  if (bytes.length <= 16) return bytes;
  const text = `<${bytes.length} bytes ${bytes.subarray(0, 8).toString("hex")}…>`;
  Object.defineProperty(bytes, fc.toStringMethod, { value: () => text });
  return bytes;
}

/** A payload of `length` bytes: random for short ones, a seeded pattern for long ones (cheap to shrink). */
function payloadOf(length: number): fc.Arbitrary<Buffer> {
  if (length <= 256) {
    return fc.uint8Array({ minLength: length, maxLength: length }).map((bytes) => printable(Buffer.from(bytes)));
  }
  return fc.integer({ min: 0, max: 255 }).map((seed) => {
    const payload = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) payload[i] = (seed + i * 131 + (i >> 8)) & 0xff;
    return printable(payload);
  });
}

const dataPayload = dataLength.chain(payloadOf);
const controlPayload = fc.integer({ min: 0, max: 125 }).chain(payloadOf);
const maskKey = fc.oneof(
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(4)) },
  { weight: 5, arbitrary: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((bytes) => Buffer.from(bytes)) },
);

/** The length form for a payload: mostly the shortest, sometimes a longer (still parseable) one. */
function lengthFormFor(length: number): fc.Arbitrary<LengthForm> {
  const forms: LengthForm[] = ["shortest", "shortest", "shortest", "64"];
  if (length <= 0xffff) forms.push("16");
  return fc.constantFrom(...forms);
}

export interface DirectionOptions {
  /** Frames from a client are masked. */
  fromClient: boolean;
  /** permessage-deflate was negotiated: RSV1 may be set on a message's first frame. */
  deflate: boolean;
}

function withMask(options: DirectionOptions): fc.Arbitrary<Buffer | undefined> {
  return options.fromClient ? maskKey : fc.constant(undefined);
}

function controlFrame(options: DirectionOptions): fc.Arbitrary<WireFrame> {
  return fc
    .record({
      opcode: fc.constantFrom(Opcode.Ping, Opcode.Pong),
      payload: controlPayload,
      mask: withMask(options),
    })
    .chain((parts) => lengthFormFor(parts.payload.length).map((lengthForm) => ({ ...parts, lengthForm })))
    .map((parts) => ({ fin: true, rsv: 0, ...parts }));
}

/** One data message: its fragments, with control frames between them. */
function dataMessage(options: DirectionOptions): fc.Arbitrary<WireFrame[]> {
  const fragment = fc
    .record({
      payload: dataPayload,
      mask: withMask(options),
      controlsAfter: fc.array(controlFrame(options), { maxLength: 2 }),
    })
    .chain((parts) => lengthFormFor(parts.payload.length).map((lengthForm) => ({ ...parts, lengthForm })));
  return fc
    .record({
      opcode: fc.constantFrom(Opcode.Text, Opcode.Binary),
      compressed: options.deflate ? fc.boolean() : fc.constant(false),
      fragments: fc.array(fragment, { minLength: 1, maxLength: 3 }),
    })
    .map(({ opcode, compressed, fragments }) =>
      fragments.flatMap((part, index) => {
        const last = index === fragments.length - 1;
        const data: WireFrame = {
          fin: last,
          rsv: index === 0 && compressed ? 4 : 0,
          opcode: index === 0 ? opcode : Opcode.Continuation,
          payload: part.payload,
          mask: part.mask,
          lengthForm: part.lengthForm,
        };
        // Control frames may come between fragments, not after the last one (that would be between messages).
        return last ? [data] : [data, ...part.controlsAfter];
      }),
    );
}

/** Valid frames in one direction: messages (fragmented or not) and control frames, no close. */
export function validFrames(options: DirectionOptions, maxItems = 6): fc.Arbitrary<WireFrame[]> {
  const item = fc.oneof(
    { weight: 3, arbitrary: dataMessage(options) },
    { weight: 1, arbitrary: controlFrame(options).map((frame) => [frame]) },
  );
  return fc.array(item, { maxLength: maxItems }).map((items) => items.flat());
}

/** Close codes a peer may send; the gateway relays them unchanged. */
export const validCloseCode = fc.oneof(
  fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014),
  fc.integer({ min: 3000, max: 4999 }),
);

/** A reason that fits a close frame: at most 123 bytes of UTF-8. */
export const closeReason = fc.string({ unit: "grapheme", maxLength: 40 }).map((text) => {
  let bytes = Buffer.from(text, "utf8");
  while (bytes.length > 123) {
    text = [...text].slice(0, -1).join("");
    bytes = Buffer.from(text, "utf8");
  }
  return text;
});

export function closePayload(code: number, reason: string): Buffer {
  const reasonBytes = Buffer.from(reason, "utf8");
  const payload = Buffer.alloc(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2);
  return payload;
}

export function closeFrame(payload: Buffer, mask: Buffer | undefined): WireFrame {
  return { fin: true, rsv: 0, opcode: Opcode.Close, payload, mask, lengthForm: "shortest" };
}

/** A valid close frame: empty, or a valid code with a UTF-8 reason. */
export function validClose(options: DirectionOptions): fc.Arbitrary<WireFrame> {
  const payload = fc.oneof(
    { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
    { weight: 4, arbitrary: fc.tuple(validCloseCode, closeReason).map(([code, reason]) => closePayload(code, reason)) },
  );
  return fc.tuple(payload, withMask(options)).map(([bytes, mask]) => closeFrame(bytes, mask));
}

// ---- invalid frames ----

/** One frame (or two) that breaks the protocol, with the failure the gateway must report. */
export interface Violation {
  frames: WireFrame[];
  failure: FrameFailureKind;
}

export interface ViolationContext extends DirectionOptions {
  /** The valid frames before it end inside a fragmented message. */
  inMessage: boolean;
  /** Largest message, -1 for none. */
  maxMessageSize: number;
}

function plain(options: DirectionOptions, parts: Partial<WireFrame> & { opcode: number }): fc.Arbitrary<WireFrame> {
  return withMask(options).map((mask) => ({
    fin: true,
    rsv: 0,
    payload: Buffer.alloc(0),
    mask,
    lengthForm: "shortest" as const,
    ...parts,
  }));
}

const INVALID_CLOSE_CODE = fc.oneof(
  fc.integer({ min: 0, max: 999 }),
  fc.constantFrom(1004, 1005, 1006, 1015),
  fc.integer({ min: 1016, max: 2999 }),
  fc.integer({ min: 5000, max: 0xffff }),
);

/** Bytes that are not UTF-8: a lone continuation byte, an overlong form, a surrogate, a cut sequence, 0xff. */
const NOT_UTF8 = fc.constantFrom(
  Buffer.from([0x80]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xe2, 0x82]),
  Buffer.from([0xff]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
);

/** Every way to break the protocol that applies after a valid prefix in `context`. */
export function violation(context: ViolationContext): fc.Arbitrary<Violation> {
  const options: DirectionOptions = context;
  const dataOpcode = context.inMessage ? Opcode.Continuation : Opcode.Binary;
  const choices: Array<fc.Arbitrary<Violation>> = [
    fc
      .constantFrom(3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf)
      .chain((opcode) => plain(options, { opcode, payload: Buffer.from("x") }))
      .map((frame) => ({ frames: [frame], failure: FrameFailure.ReservedOpcode })),
    // RSV2 or RSV3 anywhere; RSV1 without deflate, or on a continuation frame.
    fc
      .constantFrom(...(context.deflate ? [1, 2, 3, 5, 6, 7] : [1, 2, 3, 4, 5, 6, 7]))
      .chain((rsv) => plain(options, { opcode: dataOpcode, rsv, payload: Buffer.from("r") }))
      .map((frame) => ({ frames: [frame], failure: FrameFailure.ReservedBits })),
    fc
      .tuple(fc.constantFrom(Opcode.Ping, Opcode.Pong, Opcode.Close), fc.integer({ min: 126, max: 300 }))
      .chain(([opcode, length]) => plain(options, { opcode, payload: Buffer.alloc(length, 0x41) }))
      .map((frame) => ({ frames: [frame], failure: FrameFailure.ControlTooLong })),
    fc
      .constantFrom(Opcode.Ping, Opcode.Pong, Opcode.Close)
      .chain((opcode) => plain(options, { opcode, fin: false }))
      .map((frame) => ({ frames: [frame], failure: FrameFailure.ControlFragmented })),
    // The wrong masking for the direction.
    fc.constantFrom(Opcode.Text, Opcode.Ping).chain((opcode) =>
      maskKey.map((key) => ({
        frames: [
          {
            fin: true,
            rsv: 0,
            opcode: opcode === Opcode.Text ? dataOpcode : opcode,
            payload: Buffer.from("m"),
            mask: context.fromClient ? undefined : key,
            lengthForm: "shortest" as const,
          },
        ],
        failure: context.fromClient ? FrameFailure.MaskMissing : FrameFailure.MaskUnexpected,
      })),
    ),
    fc
      .integer({ min: 0x80000000, max: 0xffffffff })
      .chain((high32) => plain(options, { opcode: dataOpcode, high32, payload: Buffer.from("h") }))
      .map((frame) => ({ frames: [frame], failure: FrameFailure.LengthMsbSet })),
    fc
      .tuple(INVALID_CLOSE_CODE, closeReason)
      .chain(([code, reason]) => plain(options, { opcode: Opcode.Close, payload: closePayload(code, reason) }))
      .map((frame) => ({ frames: [frame], failure: FrameFailure.CloseCodeInvalid })),
    fc
      .integer({ min: 0, max: 255 })
      .chain((byte) => plain(options, { opcode: Opcode.Close, payload: Buffer.from([byte]) }))
      .map((frame) => ({ frames: [frame], failure: FrameFailure.CloseLength })),
    fc
      .tuple(validCloseCode, closeReason, NOT_UTF8)
      .chain(([code, reason, bad]) =>
        plain(options, {
          opcode: Opcode.Close,
          payload: Buffer.concat([closePayload(code, reason.slice(0, 10)), bad]),
        }),
      )
      .map((frame) => ({ frames: [frame], failure: FrameFailure.CloseReasonUtf8 })),
  ];
  if (context.inMessage) {
    choices.push(
      plain(options, { opcode: Opcode.Text, payload: Buffer.from("new") }).map((frame) => ({
        frames: [frame],
        failure: FrameFailure.ExpectedContinuation,
      })),
    );
  } else {
    choices.push(
      plain(options, { opcode: Opcode.Continuation, payload: Buffer.from("c") }).map((frame) => ({
        frames: [frame],
        failure: FrameFailure.UnexpectedContinuation,
      })),
    );
  }
  if (context.maxMessageSize >= 0) {
    // A frame that claims more than the limit: refused at its header, so its payload need not follow.
    choices.push(
      fc
        .tuple(fc.integer({ min: 1, max: 1000 }), fc.boolean())
        .chain(([over, fragmented]) =>
          plain(options, {
            opcode: dataOpcode,
            fin: !fragmented,
            claimedLength: context.maxMessageSize + over,
            payload: Buffer.from("big"),
          }),
        )
        .map((frame) => ({ frames: [frame], failure: FrameFailure.MessageTooBig })),
    );
  }
  return fc.oneof(...choices);
}

/** The largest message (all its fragments) in a valid frame list, in payload bytes. */
export function largestMessage(frames: readonly WireFrame[]): number {
  let largest = 0;
  let current = 0;
  for (const frame of frames) {
    if (isControl(frame.opcode)) continue;
    current += frame.payload.length;
    largest = Math.max(largest, current);
    if (frame.fin) current = 0;
  }
  return largest;
}

/** Whether a valid frame list ends inside a fragmented message. */
export function endsInMessage(frames: readonly WireFrame[]): boolean {
  let inMessage = false;
  for (const frame of frames) if (!isControl(frame.opcode)) inMessage = !frame.fin;
  return inMessage;
}

/** Random bytes after the offending frame: the gateway must ignore them. */
export const trailingJunk = fc.uint8Array({ maxLength: 64 }).map((bytes) => printable(Buffer.from(bytes)));

/** Positions at which to cut a byte stream of `length` bytes into chunks (sorted, distinct, inside it). */
export function cutPoints(maxCuts = 24): fc.Arbitrary<number[]> {
  return fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: maxCuts });
}

/** Cuts `bytes` at the fractions given (0..1), keeping every piece non-empty. */
export function splitAt(bytes: Buffer, fractions: readonly number[]): Buffer[] {
  const points = [...new Set(fractions.map((f) => Math.floor(f * bytes.length)))]
    .filter((p) => p > 0 && p < bytes.length)
    .sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(bytes.subarray(start, point));
    start = point;
  }
  if (start < bytes.length || bytes.length === 0) pieces.push(bytes.subarray(start));
  return pieces;
}
