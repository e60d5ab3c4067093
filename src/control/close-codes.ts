import { InvalidCloseCodeError } from "./errors.js";

/** Close codes an operator may close a session with: the meaningful standard ones and the application range. */
const STANDARD = new Set([1000, 1001, 1008, 1011]);

export const OPERATOR_CLOSE = { code: 1008, reason: "closed by operator" } as const;

/** `code` if an operator may send it, else throws InvalidCloseCodeError. */
export function operatorCloseCode(code: number): number {
  if (Number.isInteger(code) && (STANDARD.has(code) || (code >= 3000 && code <= 4999))) return code;
  throw new InvalidCloseCodeError(code);
}
