"""Who may use the gateway's HTTP side, checked before any route runs
(docs/ground-tool.md "Who may use the gateway").

The gateway signs ``/api/command`` requests with the operator's key, so its HTTP port is a
commanding port. Three attacks reached it before this guard (measured at stop 62 against a
gateway on 127.0.0.1):

* **a web page in the operator's browser** (cross-site request forgery): a ``fetch`` with
  ``Content-Type: text/plain`` needs no CORS preflight, and the gateway parsed its body as
  JSON. Now a request that changes anything must say ``Content-Type: application/json``
  (which a foreign page cannot send without a preflight the gateway never grants), and
  one that carries a foreign ``Origin`` or ``Sec-Fetch-Site: cross-site`` is refused;
* **DNS rebinding** (a foreign name resolved to 127.0.0.1, its page then same-origin with
  the gateway): the ``Host`` header must name the gateway — a loopback name, the address
  it serves on, or one given with ``--allow-host``;
* **anyone who reaches the port**: with a token (``--token-file``, or
  ``$VECTOR_TC_GATEWAY_TOKEN_FILE``) every request needs it, as ``Authorization: Bearer
  TOKEN`` or the cookie the page gets from ``/?token=TOKEN``; a gateway that serves
  beyond the loopback refuses to start without one (fail secure: the network never gets
  an open commanding port by a forgotten option).
"""

import hmac
import ipaddress
import json
import os

TOKEN_ENV = "VECTOR_TC_GATEWAY_TOKEN_FILE"
COOKIE = "vector_gw_token"
MIN_TOKEN_LEN = 16  # characters: a guessable token is no guard
MAX_BODY = 65536  # octets of a request body (a TC is at most 512 octets: flight/tc.py)
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARDS = ("", "0.0.0.0", "::")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class GuardError(ValueError):
    """A gateway setting that cannot be served safely (the message says why)."""


def is_loopback(host):
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path):
    """The token of a token file (its first line), checked; GuardError when unusable."""
    try:
        with open(path) as f:
            tok = f.readline().strip()
    except OSError as e:
        raise GuardError("cannot read token file %s: %s" % (path, e.strerror or e)) from None
    if len(tok) < MIN_TOKEN_LEN or not all(c.isalnum() or c in "-_." for c in tok):
        raise GuardError("token file %s: the token must be at least %d characters of "
                         "letters, digits, '-', '_' or '.' (make one: python -c \"import "
                         "secrets; print(secrets.token_urlsafe(32))\" > FILE)"
                         % (path, MIN_TOKEN_LEN))
    return tok


def token_path(token_file=None):
    """The token file in force: ``token_file``, else ``$VECTOR_TC_GATEWAY_TOKEN_FILE``'s
    (None: no token)."""
    return token_file or os.environ.get(TOKEN_ENV) or None


def token_warning(token_file=None):
    """The token file's permissions warning (``--token-file`` or the environment's)."""
    from ground_tools.state import exposed_to_others

    path = token_path(token_file)
    return exposed_to_others(path) if path else None


def client_token():
    """The token a client sends (``$VECTOR_TC_GATEWAY_TOKEN_FILE``), or None."""
    path = token_path()
    return read_token(path) if path else None


def settings(bind_host, token_file=None, allow_hosts=()):
    """(token, allowed Host names or None for any) for a gateway serving on
    ``bind_host``; GuardError when it would serve beyond the loopback without a token."""
    path = token_path(token_file)
    token = read_token(path) if path else None
    if not is_loopback(bind_host) and token is None:
        raise GuardError("serving on %s reaches beyond this machine: give --token-file FILE "
                         "(or $%s); every client then needs the token"
                         % (bind_host or "*", TOKEN_ENV))
    names = set(_LOOPBACK_NAMES) | {h.lower() for h in allow_hosts}
    if bind_host in _WILDCARDS:
        # Any address of this machine: its names are not known here. The token guards it
        # (a rebinding page never has it: the cookie belongs to the gateway's own name).
        return token, (names if allow_hosts else None)
    names.add(bind_host.strip("[]").lower())
    return token, names


def _host_name(host):
    """The name of a Host header, without its port (IPv6 literals unbracketed)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _cookie(header, name):
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _same(a, b):
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Guard:
    """ASGI middleware: refuses what the module's docstring lists, passes the rest on."""

    def __init__(self, app, token=None, allowed_hosts=None):
        self.app = app
        self.token = token
        self.allowed = allowed_hosts
        self.refused = {}  # why -> count (the gateway's summary prints it)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        h = {}
        for k, v in scope.get("headers") or ():
            h[k.decode("latin-1").lower()] = v.decode("latin-1")
        why = self._refusal(scope, h)
        if why is None:
            return await self.app(scope, receive, send)
        status, kind, text, extra = why
        if status != 303:
            self.refused[kind] = self.refused.get(kind, 0) + 1
        body = json.dumps({"error": text}).encode()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())] + extra
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _refusal(self, scope, h):
        """None, or (status, kind, why, extra headers); ``kind`` counts refusals by a
        fixed name (a count per Host or Origin sent would let a client grow the map)."""
        host = h.get("host", "")
        if self.allowed is not None and _host_name(host) not in self.allowed:
            return 403, "host", "host %r is not this gateway's (vector-tc serve --allow-host)" % (
                host,), []
        if self.token is not None:
            got = None
            auth = h.get("authorization", "")
            if auth[:7].lower() == "bearer ":
                got = auth[7:].strip()
            if got is None:
                got = _cookie(h.get("cookie", ""), COOKIE)
            if not _same(got, self.token):
                if scope["path"] == "/" and scope["method"] == "GET":
                    q = scope.get("query_string", b"").decode("latin-1")
                    for part in q.split("&"):
                        k, _, v = part.partition("=")
                        if k == "token" and _same(v, self.token):
                            # The page's cookie, and the token out of the address bar
                            cookie = "%s=%s; HttpOnly; SameSite=Strict; Path=/" % (
                                COOKIE, self.token)
                            return 303, "", "signed in", [(b"location", b"/"),
                                                      (b"set-cookie", cookie.encode())]
                return 401, "token", "this gateway needs its token: Authorization: Bearer TOKEN, " \
                    "or open /?token=TOKEN (clients: $%s)" % TOKEN_ENV, []
        if scope["method"] in _SAFE_METHODS:
            return None
        ctype = h.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return 415, "content-type", "a request that changes anything must be Content-Type: " \
                "application/json", []
        origin = h.get("origin")
        if origin is not None and origin != "http://" + host:
            return 403, "origin", "cross-origin request refused (Origin %s)" % origin, []
        if h.get("sec-fetch-site", "") in ("cross-site", "same-site"):
            return 403, "cross-site", "cross-site request refused", []
        length = h.get("content-length")
        if length is None or not length.isdigit():
            return 411, "length", "a request body needs its Content-Length", []
        if int(length) > MAX_BODY:
            return 413, "size", "request body over %d octets" % MAX_BODY, []
        return None
