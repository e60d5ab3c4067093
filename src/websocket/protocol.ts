// RFC 6455 constants shared by the parser, the writer and the handshake.

export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Appended to Sec-WebSocket-Key before hashing (RFC 6455 §1.3). */
export const HANDSHAKE_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Control frames carry at most 125 bytes (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** A close reason fits in a control frame after the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2;

/** The largest frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask. */
export const MAX_HEADER_BYTES = 14;

export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** Reserved: means "no code was present"; never sent. */
  NoStatus: 1005,
  /** Reserved: means "closed without a close frame"; never sent. */
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
} as const;

/** Whether a close code may appear on the wire (RFC 6455 §7.4, IANA registry). */
export function isValidWireCloseCode(code: number): boolean {
  if (code >= 1000 && code <= 1014) {
    return code !== 1004 && code !== CloseCode.NoStatus && code !== CloseCode.Abnormal;
  }
  return code >= 3000 && code <= 4999;
}
