import { CloseCode } from "./protocol.js";

/** Every way a peer's frames can break the protocol, with the close code that answers it. */
export const FrameFailure = {
  ReservedOpcode: { code: "WSG_FRAME_RESERVED_OPCODE", closeCode: CloseCode.ProtocolError, reason: "reserved opcode" },
  ReservedBits: { code: "WSG_FRAME_RSV_BITS", closeCode: CloseCode.ProtocolError, reason: "RSV bits not negotiated" },
  ControlTooLong: {
    code: "WSG_FRAME_CONTROL_TOO_LONG",
    closeCode: CloseCode.ProtocolError,
    reason: "control frame over 125 bytes",
  },
  ControlFragmented: {
    code: "WSG_FRAME_CONTROL_FRAGMENTED",
    closeCode: CloseCode.ProtocolError,
    reason: "fragmented control frame",
  },
  MaskMissing: { code: "WSG_FRAME_MASK_MISSING", closeCode: CloseCode.ProtocolError, reason: "frame not masked" },
  MaskUnexpected: {
    code: "WSG_FRAME_MASK_UNEXPECTED",
    closeCode: CloseCode.ProtocolError,
    reason: "masked frame from a server",
  },
  UnexpectedContinuation: {
    code: "WSG_FRAME_UNEXPECTED_CONTINUATION",
    closeCode: CloseCode.ProtocolError,
    reason: "continuation without a message",
  },
  ExpectedContinuation: {
    code: "WSG_FRAME_EXPECTED_CONTINUATION",
    closeCode: CloseCode.ProtocolError,
    reason: "new message before the last one ended",
  },
  LengthMsbSet: {
    code: "WSG_FRAME_LENGTH_MSB",
    closeCode: CloseCode.ProtocolError,
    reason: "64-bit length with the top bit set",
  },
  MessageTooBig: { code: "WSG_FRAME_MESSAGE_TOO_BIG", closeCode: CloseCode.MessageTooBig, reason: "message too big" },
  CloseLength: {
    code: "WSG_FRAME_CLOSE_LENGTH",
    closeCode: CloseCode.ProtocolError,
    reason: "close payload of 1 byte",
  },
  CloseCodeInvalid: { code: "WSG_FRAME_CLOSE_CODE", closeCode: CloseCode.ProtocolError, reason: "invalid close code" },
  CloseReasonUtf8: {
    code: "WSG_FRAME_CLOSE_UTF8",
    closeCode: CloseCode.InvalidPayload,
    reason: "close reason is not UTF-8",
  },
} as const;

export type FrameFailureKind = (typeof FrameFailure)[keyof typeof FrameFailure];
