// The one catalogue of every error code jwtgate can answer with: HTTP status, the exact body
// (Envoy's jwt_authn status strings, see ../shared/spec/jwt-policy.md §4.4) and whether the
// WWW-Authenticate header carries `error="invalid_token"`. Hot-path code returns these codes
// as values (`{ ok: false, code }`); nothing here is thrown on the request path.

export interface ErrorInfo {
  /** HTTP status sent to the client. */
  readonly status: number;
  /** Exact response body (text/plain). */
  readonly body: string;
  /**
   * WWW-Authenticate form: 'missing' -> `Bearer realm="…"`, 'invalid' -> adds
   * `, error="invalid_token"`, 'basic' -> `Basic realm="…"` (Envoy's basic_auth filter), 'none' ->
   * header not sent.
   */
  readonly wwwAuthenticate: 'missing' | 'invalid' | 'basic' | 'none';
  /** One-line description for the README and logs. */
  readonly description: string;
}

function jwt(body: string, description: string, status = 401): ErrorInfo {
  return { status, body, wwwAuthenticate: 'invalid', description };
}

/** Envoy router's local reply for an upstream that failed before its response head; the reset reason follows. */
export const UPSTREAM_RESET = 'upstream connect error or disconnect/reset before headers. reset reason: ';

export const ERRORS = {
  // --- JWT authentication (Envoy jwt_authn / jwt_verify_lib status.cc strings) ---
  JWT_MISSING: { status: 401, body: 'Jwt is missing', wwwAuthenticate: 'missing', description: 'no token in any configured location' },
  JWT_BAD_FORMAT: jwt('Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections', 'token is not three non-empty dot-separated segments'),
  JWT_HEADER_PARSE_ERROR_BAD_BASE64: jwt('Jwt header is an invalid Base64url encoded', 'header segment is not base64url'),
  JWT_HEADER_PARSE_ERROR_BAD_JSON: jwt('Jwt header is an invalid JSON', 'header segment is not a JSON object'),
  JWT_HEADER_BAD_ALG: jwt('Jwt header [alg] field is required and must be a string', '`alg` missing or not a string'),
  JWT_HEADER_NOT_IMPLEMENTED_ALG: jwt('Jwt header [alg] is not supported', '`alg` not supported (includes `none`)'),
  JWT_HEADER_BAD_KID: jwt('Jwt header [kid] field is not a string', '`kid` is not a string'),
  JWT_HEADER_UNSUPPORTED_CRIT: jwt('Jwt header [crit] contains an unsupported extension', 'RFC 7515 §4.1.11: a `crit` extension jwtgate does not understand (Envoy ignores crit)'),
  JWT_HEADER_UNENCODED_PAYLOAD: jwt('Jwt header [b64] false is not supported', 'RFC 7797 `b64: false` (Envoy ignores it and verifies the encoded payload)'),
  JWT_PAYLOAD_PARSE_ERROR_BAD_BASE64: jwt('Jwt payload is an invalid Base64url encoded', 'payload segment is not base64url'),
  JWT_PAYLOAD_PARSE_ERROR_BAD_JSON: jwt('Jwt payload is an invalid JSON', 'payload segment is not a JSON object'),
  JWT_PAYLOAD_PARSE_ERROR_ISS_NOT_STRING: jwt('Jwt payload [iss] field is not a string', '`iss` is not a string'),
  JWT_PAYLOAD_PARSE_ERROR_SUB_NOT_STRING: jwt('Jwt payload [sub] field is not a string', '`sub` is not a string'),
  JWT_PAYLOAD_PARSE_ERROR_JTI_NOT_STRING: jwt('Jwt payload [jti] field is not a string', '`jti` is not a string'),
  JWT_PAYLOAD_PARSE_ERROR_IAT_NOT_INTEGER: jwt('Jwt payload [iat] field is not an integer', '`iat` is not a number'),
  JWT_PAYLOAD_PARSE_ERROR_IAT_OUT_OF_RANGE: jwt('Jwt payload [iat] field is not a positive 64 bit integer', '`iat` negative or ≥ 2^64'),
  JWT_PAYLOAD_PARSE_ERROR_NBF_NOT_INTEGER: jwt('Jwt payload [nbf] field is not an integer', '`nbf` is not a number'),
  JWT_PAYLOAD_PARSE_ERROR_NBF_OUT_OF_RANGE: jwt('Jwt payload [nbf] field is not a positive 64 bit integer', '`nbf` negative or ≥ 2^64'),
  JWT_PAYLOAD_PARSE_ERROR_EXP_NOT_INTEGER: jwt('Jwt payload [exp] field is not an integer', '`exp` is not a number'),
  JWT_PAYLOAD_PARSE_ERROR_EXP_OUT_OF_RANGE: jwt('Jwt payload [exp] field is not a positive 64 bit integer', '`exp` negative or ≥ 2^64'),
  JWT_PAYLOAD_PARSE_ERROR_AUD_NOT_STRING_OR_LIST: jwt('Jwt payload [aud] field is not a string or string list', '`aud` is neither a string nor a list of strings'),
  JWT_SIGNATURE_PARSE_ERROR_BAD_BASE64: jwt('Jwt signature is an invalid Base64url encoded', 'signature segment is not base64url'),
  JWT_UNKNOWN_ISSUER: jwt('Jwt issuer is not configured', '`iss` does not match any provider that saw the token'),
  JWT_NOT_YET_VALID: jwt('Jwt not yet valid', '`nbf` is in the future (beyond clock skew)'),
  JWT_EXPIRED: jwt('Jwt is expired', '`exp` is in the past (beyond clock skew)'),
  JWT_AUDIENCE_NOT_ALLOWED: jwt('Audiences in Jwt are not allowed', 'no `aud` value is in the provider audiences', 403),
  JWKS_KID_ALG_MISMATCH: jwt("Jwks doesn't have key to match kid or alg from Jwt", 'no key in the key set matches the token kid/alg'),
  JWT_VERIFICATION_FAIL: jwt('Jwt verification fails', 'a key matched but the signature does not verify'),
  JWT_ED25519_SIGNATURE_WRONG_LENGTH: jwt('Jwt ED25519 signature is wrong length', 'EdDSA signature is not 64 bytes'),
  JWKS_NO_VALID_KEYS: jwt("Jwks doesn't have any valid public key", 'the key set has no usable key'),
  JWKS_FETCH_FAILED: jwt('Jwks remote fetch is failed', 'remote key set not available'),
  // --- API keys (Envoy api_key_auth, kgateway TrafficPolicy apiKeyAuth): no WWW-Authenticate ---
  API_KEY_MISSING: { status: 401, body: 'Client authentication failed.', wwwAuthenticate: 'none', description: 'the route\'s TrafficPolicy `apiKeyAuth` found no key in any of its `keySources` (Envoy\'s `missing_api_key`)' },
  API_KEY_UNKNOWN: { status: 401, body: 'Client authentication failed.', wwwAuthenticate: 'none', description: '`apiKeyAuth`: the key found is not one of its Secrets\' (Envoy\'s `unkonwn_api_key`, its spelling); the body is the one a missing key gets, as Envoy answers both alike' },
  // --- HTTP basic authentication (Envoy basic_auth, kgateway TrafficPolicy basicAuth) ---
  BASIC_AUTH_MISSING: { status: 401, body: 'User authentication failed. Missing username and password.', wwwAuthenticate: 'basic', description: 'the route\'s TrafficPolicy `basicAuth` found no `Authorization` header' },
  BASIC_AUTH_BAD_SCHEME: { status: 401, body: "User authentication failed. Expected 'Basic' authentication scheme.", wwwAuthenticate: 'basic', description: '`basicAuth`: the `Authorization` header does not start with `Basic ` (case-sensitive, one space)' },
  BASIC_AUTH_BAD_FORMAT: { status: 401, body: 'User authentication failed. Invalid basic credential format.', wwwAuthenticate: 'basic', description: '`basicAuth`: the credentials after `Basic ` are not strict standard base64 of `user:password`' },
  BASIC_AUTH_DENIED: { status: 401, body: 'User authentication failed. Invalid username/password combination.', wwwAuthenticate: 'basic', description: '`basicAuth`: the user is not listed, or the password\'s SHA-1 is not the one listed for it' },
  // --- external authorization (Envoy ext_authz with an HTTP service, kgateway TrafficPolicy extAuth) ---
  EXT_AUTHZ_DENIED: { status: 403, body: '', wwwAuthenticate: 'none', description: 'the route\'s TrafficPolicy `extAuth` server answered with a status other than 200 and below 500: the client gets that status, the server\'s body and its headers (all but Host, or the extension\'s `headersToClient` with `location`, `www-authenticate` and `content-length`); the status here is only the usual one (Envoy\'s `ext_authz_denied`)' },
  EXT_AUTHZ_ERROR: { status: 403, body: '', wwwAuthenticate: 'none', description: '`extAuth`: the server answered 5xx, did not answer within `requestTimeout` (2 s by default, retries included), could not be reached, or answered over 1 MiB: the extension\'s `statusOnError` (403 by default) with an empty body, unless `failOpen` lets the request through (Envoy\'s `ext_authz_error`)' },
  // --- authorization (Envoy rbac filter, kgateway TrafficPolicy rbac) ---
  RBAC_DENIED: { status: 403, body: 'RBAC: access denied', wwwAuthenticate: 'none', description: 'the route\'s TrafficPolicy `rbac` denies the request: an Allow policy none of whose matchExpressions is true, or a Deny policy one of whose is' },
  // --- cross-site request forgery (Envoy csrf filter, kgateway TrafficPolicy csrf) ---
  CSRF_INVALID_ORIGIN: { status: 403, body: 'Invalid origin', wwwAuthenticate: 'none', description: 'the route\'s TrafficPolicy `csrf`: a POST, PUT, DELETE or PATCH whose Origin (or Referer) host is not the request\'s Host nor one of `additionalOrigins`, or that has neither (Envoy\'s `csrf_origin_mismatch`)' },
  // --- rate limiting (Envoy local_ratelimit, kgateway TrafficPolicy rateLimit.local) ---
  RATE_LIMITED: { status: 429, body: 'local_rate_limited', wwwAuthenticate: 'none', description: 'the route\'s TrafficPolicy `rateLimit.local` bucket had no token left (checked after the JWT and `rbac` checks, so a request they refuse takes none)' },
  // --- configuration / routing / proxy ---
  ROUTE_NOT_FOUND: { status: 404, body: '', wwwAuthenticate: 'none', description: 'no listener hostname or HTTPRoute matched the request' },
  BACKEND_NOT_RESOLVED: { status: 500, body: '', wwwAuthenticate: 'none', description: 'the request was drawn to a backendRef that does not resolve (not found, not permitted, an unsupported kind): kgateway points its share at a cluster Envoy does not have, and Envoy answers `cluster_not_found_response_code` 500 with an empty body' },
  ROUTE_CONFIG_INVALID: { status: 500, body: 'invalid route configuration detected and replaced with a direct response.', wwwAuthenticate: 'none', description: 'the route (or its Gateway) carries an invalid policy (kgateway replaces it the same way), or every backendRef of its rule has weight 0' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, body: 'Request Header Fields Too Large', wwwAuthenticate: 'none', description: 'request headers exceed maxRequestHeadersBytes' },
  REQUEST_INVALID: { status: 400, body: 'Bad Request', wwwAuthenticate: 'none', description: 'a header value with a control character, a content-length that is not digits, or a control character in the path: not sent upstream (Envoy\'s codec refuses these with 400); a # in the path or query, or %00 in the path (refused before routing, as Envoy\'s path normalization does)' },
  REQUEST_TRANSFER_ENCODING_UNSUPPORTED: { status: 501, body: 'Not Implemented', wwwAuthenticate: 'none', description: 'a transfer-encoding other than chunked (Envoy\'s codec answers 501); the connection is closed after the answer' },
  PAYLOAD_TOO_LARGE: { status: 413, body: 'Payload Too Large', wwwAuthenticate: 'none', description: 'the request body is over the route\'s TrafficPolicy `buffer.maxRequestSize` (Envoy\'s buffer filter, after the JWT, `rbac` and rate-limit checks); the connection is closed after the answer' },
  REQUEST_BODY_TOO_LARGE: { status: 413, body: 'request body too large', wwwAuthenticate: 'none', description: 'request body over --max-request-body-bytes (off by default)' },
  UPSTREAM_UNAVAILABLE: { status: 503, body: `${UPSTREAM_RESET}connection termination`, wwwAuthenticate: 'none', description: 'the backend closed or reset the connection before a response. As Envoy words the other causes: a refused or unreachable connection answers `upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused` (or `No route to host`, `Network is unreachable`), a connect timeout `… reset reason: connection timeout`, a backend without an address (its name does not resolve, no endpoints) `no healthy upstream`, a connect this host could not make (out of file descriptors or socket memory: EMFILE, ENFILE, ENOBUFS, ENOMEM) `… reset reason: local connection failure, transport failure reason: socket creation failure: Too many open files` or (no free local port: EADDRNOTAVAIL) `… reset reason: remote connection failure, transport failure reason: immediate connect error: Cannot assign requested address`' },
  UPSTREAM_OVERFLOW: { status: 503, body: `${UPSTREAM_RESET}overflow`, wwwAuthenticate: 'none', description: 'more requests were waiting for a connection to the endpoint than `--upstream-max-pending` allows (Envoy: circuit breaker `max_pending_requests`)' },
  RETRY_BUFFER_EXCEEDED: { status: 507, body: 'exceeded request buffer limit while retrying upstream', wwwAuthenticate: 'none', description: 'a retry was waiting its backoff when the request body grew past the 1 MiB kept for retries (Envoy\'s answer there)' },
  UPSTREAM_TIMEOUT: { status: 504, body: 'upstream request timeout', wwwAuthenticate: 'none', description: 'the backend did not answer within the route timeout' },
  STREAM_IDLE_TIMEOUT: { status: 504, body: 'stream timeout', wwwAuthenticate: 'none', description: 'the backend sent nothing for the route\'s TrafficPolicy `timeouts.streamIdle` (when it is shorter than the route timeout); after the response head, the client connection is closed' },
  UPSTREAM_BAD_RESPONSE: { status: 502, body: `${UPSTREAM_RESET}protocol error`, wwwAuthenticate: 'none', description: 'the backend answered with something that is not valid HTTP' },
  OVERLOADED: { status: 503, body: 'gateway overloaded, retry later', wwwAuthenticate: 'none', description: 'a signature check could not be done in time: the verify queue is full (10,000 checks waiting), a check waited over 1 s in the queue before a worker took it, or the verify pool made no progress for 5 s and its checks were given up (see Limits)' },
  DRAIN_CLOSED: { status: 499, body: 'closed at the end of the drain', wwwAuthenticate: 'none', description: 'the gateway stopped (SIGTERM, SIGINT) and closed the connection at the end of its drain period with this request still in flight (never sent; a metric and access-log label)' },
  CLIENT_CLOSED: { status: 499, body: 'client closed request', wwwAuthenticate: 'none', description: 'the client went away before the response was complete (never sent; a metric and access-log label, as nginx 499)' },
  INTERNAL: { status: 500, body: 'internal error', wwwAuthenticate: 'none', description: 'a bug: logged with its stack trace' },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;

/** Result type for hot-path functions: failures are values, never exceptions. */
export type Result<T> = { ok: true; value: T } | { ok: false; code: ErrorCode };

/** Configuration problem: resource `kind/namespace/name`, field path, human message. */
export interface ConfigProblem {
  resource: string;
  path: string;
  message: string;
  /** 'error' makes the resource invalid; 'warning' is logged and shown by `check` (e.g. ignored policy). */
  severity: 'error' | 'warning';
  /** file:doc where the resource came from, when known */
  source?: string;
  /**
   * `serve` refuses to start over it (as over a YAML syntax error): serving without the resource
   * could drop a policy and nothing can be failed closed in its place (a TrafficPolicy whose
   * targets cannot be read).
   */
  fatal?: boolean;
}

/** Thrown only at start-up / config load; carries every problem, not just the first. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[], message?: string) {
    super(message ?? problems.map((p) => `${p.resource}: ${p.path}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A start-up step failed for a reason outside jwtgate (a port in use, an unknown host): said in one line, without a stack. */
export class StartupError extends Error {}
