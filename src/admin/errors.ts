import type { ConfigError } from "../config/errors.js";

/** Failures of an admin request itself, one class each, with the status the caller gets. */
export abstract class AdminError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  readonly headers: Readonly<Record<string, string>> = {};
  /** Configuration errors, each placed in the request body or in the stored objects. */
  readonly errors: readonly ConfigError[] = [];
}

export class UnauthorizedError extends AdminError {
  readonly code = "WSG_UNAUTHORIZED";
  readonly status = 401;
  override readonly headers = { "WWW-Authenticate": 'Bearer realm="wsgate admin"' };
  constructor(given: boolean) {
    super(given ? "wrong admin token" : "the admin API needs a token: Authorization: Bearer TOKEN");
  }
}

export class PathNotFoundError extends AdminError {
  readonly code = "WSG_PATH_NOT_FOUND";
  readonly status = 404;
  constructor(path: string) {
    super(`no admin endpoint at ${path} (see GET /apis/v2/objects, /apis/v2/status/objects, /apis/v2/sessions)`);
  }
}

export class AdminMethodNotAllowedError extends AdminError {
  readonly code = "WSG_METHOD_NOT_ALLOWED";
  readonly status = 405;
  override readonly headers: Readonly<Record<string, string>>;
  constructor(method: string, allowed: readonly string[]) {
    super(`method ${method} is not allowed here (allowed: ${allowed.join(", ")})`);
    this.headers = { Allow: allowed.join(", ") };
  }
}

export class BodyTooLargeError extends AdminError {
  readonly code = "WSG_BODY_TOO_LARGE";
  readonly status = 413;
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
  }
}

export class InvalidObjectError extends AdminError {
  readonly code = "WSG_INVALID_OBJECT";
  readonly status = 400;
  override readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    super(`invalid configuration: ${errors.length} error(s)`);
    this.errors = errors;
  }
}

/** A body must hold exactly one object, as in Easegress; `wsgate apply` sends a file's objects one by one. */
export class NotOneObjectError extends AdminError {
  readonly code = "WSG_NOT_ONE_OBJECT";
  readonly status = 400;
  constructor(count: number) {
    super(`the request body must hold exactly one object, it holds ${count}`);
  }
}

export class NameMismatchError extends AdminError {
  readonly code = "WSG_NAME_MISMATCH";
  readonly status = 400;
  constructor(pathName: string, bodyName: string) {
    super(`the body names object '${bodyName}' but the path names '${pathName}'`);
  }
}

export class KindChangeError extends AdminError {
  readonly code = "WSG_KIND_CHANGE";
  readonly status = 400;
  constructor(name: string, from: string, to: string) {
    super(`object ${name} is a ${from}; it cannot become a ${to} (delete it first)`);
  }
}

export class InvalidRevisionError extends AdminError {
  readonly code = "WSG_INVALID_REVISION";
  readonly status = 400;
  constructor(text: string) {
    super(`revision '${text}' is not a revision number (If-Match: "3" or ?revision=3)`);
  }
}

export class InvalidQueryError extends AdminError {
  readonly code = "WSG_INVALID_QUERY";
  readonly status = 400;
}

/** A cluster endpoint on a gateway that runs without a cluster store. */
export class NoClusterError extends AdminError {
  readonly code = "WSG_NO_CLUSTER";
  readonly status = 404;
  constructor() {
    super("this gateway is not in a cluster (start it with --store etcd://...)");
  }
}

/** The Host (or absolute-form target) names another site: a DNS-rebinding page, or a misrouted request. */
export class MisdirectedHostError extends AdminError {
  readonly code = "WSG_ADMIN_HOST";
  readonly status = 421;
  constructor(host: string | undefined) {
    super(
      host === undefined
        ? "the request names no Host; the admin API answers only requests that name it"
        : `Host '${host}' does not name this admin listener (add it to adminAllowedHosts / --admin-host if it should)`,
    );
  }
}

export class DuplicateHostError extends AdminError {
  readonly code = "WSG_DUPLICATE_HOST";
  readonly status = 400;
  constructor() {
    super("more than one Host header");
  }
}

/** A browser page of another origin: the admin API is not for cross-site use, and sends no CORS headers. */
export class ForeignOriginError extends AdminError {
  readonly code = "WSG_ADMIN_ORIGIN";
  readonly status = 403;
  constructor(origin: string) {
    super(`requests from origin '${origin}' are refused: only the admin listener's own origin may call it`);
  }
}

/** A write whose body is not declared JSON or YAML: what an HTML form or a simple cross-site request sends. */
export class UnsupportedMediaTypeError extends AdminError {
  readonly code = "WSG_UNSUPPORTED_MEDIA_TYPE";
  readonly status = 415;
  override readonly headers = { "Accept-Post": "application/json, application/yaml" };
  constructor(contentType: string | undefined) {
    super(
      `${contentType === undefined ? "no Content-Type" : `Content-Type '${contentType}'`}: ` +
        "send application/json or application/yaml (charset utf-8)",
    );
  }
}

/** `?secrets=true` on a gateway whose admin API has no token: nothing would tell the caller from anyone else. */
export class SecretsNeedTokenError extends AdminError {
  readonly code = "WSG_SECRETS_NEED_TOKEN";
  readonly status = 403;
  constructor() {
    super("secrets are only shown to a caller with the admin token, and this admin API has none (set --admin-token)");
  }
}

/** A `POST /apis/v2/servers/drain` body that does not say which server, or over what window. */
export class InvalidDrainRequestError extends AdminError {
  readonly code = "WSG_INVALID_DRAIN";
  readonly status = 400;
}
