import { apiError } from "../errors.js";

// Failures of a GatewayControl request (a session to close, a close code); statuses are rows of API_ERRORS.

export class InvalidCloseCodeError extends apiError("WSG_INVALID_CLOSE_CODE") {
  constructor(code: unknown) {
    super(`close code ${String(code)} is not one an operator may send (1000, 1001, 1008, 1011 or 3000-4999)`);
  }
}

export class SessionNotFoundError extends apiError("WSG_SESSION_NOT_FOUND") {
  constructor(id: string) {
    super(`session ${id} not found (it may have ended)`);
  }
}

export class UpstreamServerNotFoundError extends apiError("WSG_SERVER_NOT_FOUND") {
  constructor(server: string, pool: string | undefined) {
    super(
      `no upstream server ${server}${pool === undefined ? "" : ` in pool ${pool}`} ` +
        "(give its host:port or URL as GET /apis/v2/status/objects shows them)",
    );
  }
}

/** The objects were valid, but the running gateway could not take them (e.g. a port in use). */
export class ApplyFailedError extends apiError("WSG_APPLY_FAILED") {
  constructor(reason: string, rolledBack: boolean) {
    super(`the gateway could not apply the change: ${reason}${rolledBack ? " (the change was undone)" : ""}`);
  }
}

/** An admin write to an object that a config file defines: the next reload would undo it, so it is refused. */
export class ObjectFromFileError extends apiError("WSG_OBJECT_FROM_FILE") {
  constructor(name: string, where: string) {
    super(
      `object ${name} comes from ${where}: change it there and reload (SIGHUP or --watch); ` +
        "a change through the admin API would be lost at the next reload",
    );
  }
}

/** The objects created through the admin API could not be saved to the state file: the write was undone. */
export class StateFileError extends apiError("WSG_STATE_NOT_SAVED") {
  constructor(file: string, reason: string) {
    super(`cannot save the admin API's objects to ${file}: ${reason} (the change was undone)`);
  }
}

/** A gateway run from files with `--state-file off`: it cannot keep API-created objects past a restart. */
export class ApiObjectsRefusedError extends apiError("WSG_API_OBJECTS_OFF") {
  constructor(name: string) {
    super(
      `object ${name}: this gateway runs from config files with --state-file off, so an object created through the ` +
        "admin API would be lost at the next restart; add it to a config file and reload (SIGHUP or --watch)",
    );
  }
}

/** `wsgate upgrade`: the new process could not take over; this one keeps serving everything. */
export class UpgradeFailedError extends apiError("WSG_UPGRADE_FAILED") {
  constructor(reason: string) {
    super(`upgrade failed, this process keeps serving: ${reason}`);
  }
}

/** `wsgate upgrade` while one is under way, or after this process has handed over. */
export class UpgradeBusyError extends apiError("WSG_UPGRADE_BUSY") {}

/** `wsgate upgrade` on a process that cannot be upgraded in place (see the message). */
export class UpgradeUnsupportedError extends apiError("WSG_UPGRADE_UNSUPPORTED") {}
