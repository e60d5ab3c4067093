import { TRAFFIC_ERRORS, type FrameFailureCode } from "../errors.js";

/** A frame failure as the relay reads it: its stable code, the close code that answers it, the close frame's reason. */
export interface FrameFailureRow {
  readonly code: FrameFailureCode;
  readonly closeCode: number;
  readonly reason: string;
}

/** Its row of TRAFFIC_ERRORS, built once: the parser hands out these constants, nothing per frame. */
function frameFailure(code: FrameFailureCode): FrameFailureRow {
  const row = TRAFFIC_ERRORS[code];
  return { code, closeCode: row.closeCode, reason: row.publicReason };
}

/** Every way a peer's frames can break the protocol. */
export const FrameFailure = {
  ReservedOpcode: frameFailure("WSG_FRAME_RESERVED_OPCODE"),
  ReservedBits: frameFailure("WSG_FRAME_RSV_BITS"),
  ControlTooLong: frameFailure("WSG_FRAME_CONTROL_TOO_LONG"),
  ControlFragmented: frameFailure("WSG_FRAME_CONTROL_FRAGMENTED"),
  MaskMissing: frameFailure("WSG_FRAME_MASK_MISSING"),
  MaskUnexpected: frameFailure("WSG_FRAME_MASK_UNEXPECTED"),
  UnexpectedContinuation: frameFailure("WSG_FRAME_UNEXPECTED_CONTINUATION"),
  ExpectedContinuation: frameFailure("WSG_FRAME_EXPECTED_CONTINUATION"),
  LengthMsbSet: frameFailure("WSG_FRAME_LENGTH_MSB"),
  MessageTooBig: frameFailure("WSG_FRAME_MESSAGE_TOO_BIG"),
  CloseLength: frameFailure("WSG_FRAME_CLOSE_LENGTH"),
  CloseCodeInvalid: frameFailure("WSG_FRAME_CLOSE_CODE"),
  CloseReasonUtf8: frameFailure("WSG_FRAME_CLOSE_UTF8"),
  // Limits of the route (frame-policy.ts), not of the protocol.
  FrameTooBig: frameFailure("WSG_FRAME_TOO_BIG"),
  TooManyFragments: frameFailure("WSG_FRAME_TOO_MANY_FRAGMENTS"),
  ControlRate: frameFailure("WSG_FRAME_CONTROL_RATE"),
  TextNotAllowed: frameFailure("WSG_FRAME_TEXT_NOT_ALLOWED"),
  BinaryNotAllowed: frameFailure("WSG_FRAME_BINARY_NOT_ALLOWED"),
} as const;

export type FrameFailureKind = (typeof FrameFailure)[keyof typeof FrameFailure];
