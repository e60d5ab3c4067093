import { OPERATOR_CLOSE } from "../control/close-codes.js";
import { InvalidCloseCodeError, SessionNotFoundError } from "../control/errors.js";
import type { AdminAnswer, AdminRequest } from "./response.js";

/** `GET /apis/v2/sessions`: every live WebSocket session. */
export async function listSessions({ control }: AdminRequest): Promise<AdminAnswer> {
  return { status: 200, body: await control.sessions() };
}

/** `DELETE /apis/v2/sessions/{id}[?code=4000&reason=...]`: closes one session as the gateway, 1008 by default. */
export async function closeSession({ control, params, query }: AdminRequest): Promise<AdminAnswer> {
  const id = params["id"] ?? "";
  const codeText = query.get("code");
  const code = codeText === null ? OPERATOR_CLOSE.code : Number(codeText);
  if (codeText !== null && !/^\d+$/.test(codeText)) throw new InvalidCloseCodeError(codeText);
  const reason = fitCloseReason(query.get("reason") ?? OPERATOR_CLOSE.reason);
  if (!(await control.closeSession(id, code, reason))) throw new SessionNotFoundError(id);
  return { status: 200, body: { id, closed: true, code, reason } };
}

/** A close reason must fit a control frame: at most 123 bytes of UTF-8. */
function fitCloseReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > 123) reason = reason.slice(0, -1);
  return reason;
}
