import { apiError, type ConfigError } from "../errors.js";

// Failures of an admin request itself, one class each; each code's status is its row of API_ERRORS (src/errors.ts).

export class UnauthorizedError extends apiError("WSG_UNAUTHORIZED") {
  override readonly headers = { "WWW-Authenticate": 'Bearer realm="wsgate admin"' };
  constructor(given: boolean) {
    super(given ? "wrong admin token" : "the admin API needs a token: Authorization: Bearer TOKEN");
  }
}

export class PathNotFoundError extends apiError("WSG_PATH_NOT_FOUND") {
  constructor(path: string) {
    super(`no admin endpoint at ${path} (see GET /apis/v2/objects, /apis/v2/status/objects, /apis/v2/sessions)`);
  }
}

export class AdminMethodNotAllowedError extends apiError("WSG_ADMIN_METHOD_NOT_ALLOWED") {
  override readonly headers: Readonly<Record<string, string>>;
  constructor(method: string, allowed: readonly string[]) {
    super(`method ${method} is not allowed here (allowed: ${allowed.join(", ")})`);
    this.headers = { Allow: allowed.join(", ") };
  }
}

export class BodyTooLargeError extends apiError("WSG_ADMIN_BODY_TOO_LARGE") {
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
  }
}

export class InvalidObjectError extends apiError("WSG_INVALID_OBJECT") {
  override readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    super(`invalid configuration: ${errors.length} error(s)`);
    this.errors = errors;
  }
}

/** A body must hold exactly one object, as in Easegress; `wsgate apply` sends a file's objects one by one. */
export class NotOneObjectError extends apiError("WSG_NOT_ONE_OBJECT") {
  constructor(count: number) {
    super(`the request body must hold exactly one object, it holds ${count}`);
  }
}

export class NameMismatchError extends apiError("WSG_NAME_MISMATCH") {
  constructor(pathName: string, bodyName: string) {
    super(`the body names object '${bodyName}' but the path names '${pathName}'`);
  }
}

export class KindChangeError extends apiError("WSG_KIND_CHANGE") {
  constructor(name: string, from: string, to: string) {
    super(`object ${name} is a ${from}; it cannot become a ${to} (delete it first)`);
  }
}

export class InvalidRevisionError extends apiError("WSG_INVALID_REVISION") {
  constructor(text: string) {
    super(`revision '${text}' is not a revision number (If-Match: "3" or ?revision=3)`);
  }
}

export class InvalidQueryError extends apiError("WSG_INVALID_QUERY") {}

/** A cluster endpoint on a gateway that runs without a cluster store. */
export class NoClusterError extends apiError("WSG_NO_CLUSTER") {
  constructor() {
    super("this gateway is not in a cluster (start it with --store etcd://...)");
  }
}

/** The Host (or absolute-form target) names another site: a DNS-rebinding page, or a misrouted request. */
export class MisdirectedHostError extends apiError("WSG_ADMIN_HOST") {
  constructor(host: string | undefined) {
    super(
      host === undefined
        ? "the request names no Host; the admin API answers only requests that name it"
        : `Host '${host}' does not name this admin listener (add it to adminAllowedHosts / --admin-host if it should)`,
    );
  }
}

export class DuplicateHostError extends apiError("WSG_DUPLICATE_HOST") {
  constructor() {
    super("more than one Host header");
  }
}

/** A browser page of another origin: the admin API is not for cross-site use, and sends no CORS headers. */
export class ForeignOriginError extends apiError("WSG_ADMIN_ORIGIN") {
  constructor(origin: string) {
    super(`requests from origin '${origin}' are refused: only the admin listener's own origin may call it`);
  }
}

/** A write whose body is not declared JSON or YAML: what an HTML form or a simple cross-site request sends. */
export class UnsupportedMediaTypeError extends apiError("WSG_UNSUPPORTED_MEDIA_TYPE") {
  override readonly headers = { "Accept-Post": "application/json, application/yaml" };
  constructor(contentType: string | undefined) {
    super(
      `${contentType === undefined ? "no Content-Type" : `Content-Type '${contentType}'`}: ` +
        "send application/json or application/yaml (charset utf-8)",
    );
  }
}

/** `?secrets=true` on a gateway whose admin API has no token: nothing would tell the caller from anyone else. */
export class SecretsNeedTokenError extends apiError("WSG_SECRETS_NEED_TOKEN") {
  constructor() {
    super("secrets are only shown to a caller with the admin token, and this admin API has none (set --admin-token)");
  }
}

/** A `POST /apis/v2/servers/drain` body that does not say which server, or over what window. */
export class InvalidDrainRequestError extends apiError("WSG_INVALID_DRAIN") {}
