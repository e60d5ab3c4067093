import { ApiError } from "../errors.js";

/** Failures of a GatewayControl request (a session to close, a close code). */
export abstract class ControlError extends ApiError {}

export class InvalidCloseCodeError extends ControlError {
  readonly code = "WSG_INVALID_CLOSE_CODE";
  readonly status = 400;
  constructor(code: unknown) {
    super(`close code ${String(code)} is not one an operator may send (1000, 1001, 1008, 1011 or 3000-4999)`);
  }
}

export class SessionNotFoundError extends ControlError {
  readonly code = "WSG_SESSION_NOT_FOUND";
  readonly status = 404;
  constructor(id: string) {
    super(`session ${id} not found (it may have ended)`);
  }
}

/** The objects were valid, but the running gateway could not take them (e.g. a port in use). */
export class ApplyFailedError extends ControlError {
  readonly code = "WSG_APPLY_FAILED";
  readonly status = 500;
  constructor(reason: string, rolledBack: boolean) {
    super(`the gateway could not apply the change: ${reason}${rolledBack ? " (the change was undone)" : ""}`);
  }
}
