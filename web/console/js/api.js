// The console's only way to the manager: the REST API of SPEC section 4 under /v1, same origin.
//
// The session is an HttpOnly, SameSite=Strict cookie the manager sets at log-in when asked with
// `X-Cloister-Session: cookie`; script never sees the token. Every request carries that header:
// the manager refuses cookie-authenticated requests without it, and a cross-site page cannot
// add it without a CORS preflight the manager never grants (docs/console.md, "Session").

const SESSION_HEADER = { 'X-Cloister-Session': 'cookie' };

// An error answer of the API: {code, message} with the HTTP status. `field` is the JSON path
// the message names ("advanced_settings.certificate.key_path: must be an absolute path"), or
// null when it names none.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    const m = /^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\[\]]+)*): /.exec(message || '');
    this.field = m ? m[1].replace(/\[\d+\]/g, '') : null;
    this.reason = m ? message.slice(m[0].length) : message;
  }
}

let unauthorizedHandler = null;

// fn(error) runs when a call that needed a session gets 401 (expired or logged out elsewhere).
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

function url(path, query) {
  const u = new URL('/v1' + path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') u.searchParams.set(key, value);
  }
  return u.pathname + u.search;
}

async function failure(response) {
  let code = 'HTTP_' + response.status;
  let message = response.statusText || 'request failed';
  try {
    const body = await response.json();
    if (body && body.code) code = body.code;
    if (body && body.message) message = body.message;
  } catch (e) {
    // Not JSON (a proxy's page): keep the status line.
  }
  return new ApiError(response.status, code, message);
}

async function request(method, path, { query, body, headers, raw, anonymous } = {}) {
  const init = { method, headers: { ...SESSION_HEADER, ...headers }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url(path, query), init);
  } catch (e) {
    throw new ApiError(0, 'NETWORK', 'the manager cannot be reached: ' + e.message);
  }
  if (!response.ok) {
    const error = await failure(response);
    if (response.status === 401 && !anonymous && unauthorizedHandler) unauthorizedHandler(error);
    throw error;
  }
  if (response.status === 204) return null;
  return raw ? response.text() : response.json();
}

export const api = {
  get: (path, query) => request('GET', path, { query }),
  // The body as text (CSV, PEM).
  text: (path, query) => request('GET', path, { query, raw: true }),
  post: (path, body = {}) => request('POST', path, { body }),
  patch: (path, body) => request('PATCH', path, { body }),
  del: (path) => request('DELETE', path),
  // Sign-up needs no session; a 401 there is not an expired session.
  signup: (body) => request('POST', '/users', { body, anonymous: true }),
  login: (email, password) =>
    request('POST', '/sys/auth', {
      anonymous: true,
      headers: { Authorization: 'Basic ' + base64Utf8(email + ':' + password) },
    }),
  logout: () => request('POST', '/sys/logout', { anonymous: true }),
};

function base64Utf8(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

// Whether the browser holds a session cookie. The session cookie itself is HttpOnly; the
// manager sets this harmless companion with it so that the console does not have to ask (and
// get a 401) when nobody is logged in.
export function hasSession() {
  return document.cookie.split(';').some((c) => c.trim() === 'cloister_logged_in=1');
}
