// HTTP/2 with prior knowledge (RFC 9113 §3.3): a plaintext connection that opens with the client preface.

/** The client connection preface every HTTP/2 connection opens with (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * Whether a connection's first bytes are (the start of) the HTTP/2 preface. A first read shorter than the preface
 * that matches it so far counts: the HTTP/2 session checks the rest, and refuses a connection that goes on otherwise.
 * No HTTP/1.1 request starts with "PRI " (it is no method the gateway serves), so nothing HTTP/1.1 is taken.
 */
export function opensWithH2Preface(chunk: Buffer): boolean {
  const length = Math.min(chunk.length, H2_PREFACE.length);
  // "PRI " at least: one byte alone ("P") could be a POST or PUT.
  if (length < 4) return false;
  return chunk.compare(H2_PREFACE, 0, length, 0, length) === 0;
}
