"""Who may use the gateway's HTTP side (ground_tools/webguard.py): a foreign web page
(cross-site request forgery), a rebound DNS name, a client without the token; and what
the API accepts (its queries, the shape of a forwarded TC, the history's names). Real
`vector-tc serve` processes on 127.0.0.1 against the simulated payload on a pty; every
refusal is checked against the gateway's own count of TCs sent, and every refused request
has an accepted twin, so a refusal cannot pass by a route that never worked."""

import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

from ground_tools import gwclient, webguard, wire
from ground_tools.state import load_key
from tests.gwutil import Served, free_port
from tests.hil.simbench import SimBench
from tests.procutil import GUARD_S, ROOT

TOKEN = "test-token-0123456789abcdef"


def _env(tmp):
    env = dict(os.environ, VECTOR_TC_STATE=str(tmp / "counters.json"), PYTHONPATH=str(ROOT))
    for k in ("VECTOR_TC_GATEWAY", "VECTOR_TC_GATEWAY_STATE", webguard.TOKEN_ENV):
        env.pop(k, None)
    env["VECTOR_TC_GATEWAY_STATE"] = str(tmp / "gateway.json")
    return env


@pytest.fixture(scope="module")
def open_gw(tmp_path_factory):
    """A gateway on the loopback without a token (the default)."""
    tmp = tmp_path_factory.mktemp("guard")
    bench = SimBench(str(tmp / "state"), speed=5.0)
    served = None
    try:
        served = Served(bench.port, tmp / "a.db", _env(tmp), free_port())
        yield served
    finally:
        if served is not None:
            served.stop()
        bench.close()


@pytest.fixture(scope="module")
def token_gw(tmp_path_factory):
    """A gateway on the loopback that needs its token; the test process holds it too (the
    fixture's readiness check is a client)."""
    tmp = tmp_path_factory.mktemp("guard_token")
    (tmp / "token").write_text(TOKEN + "\n")
    bench = SimBench(str(tmp / "state"), speed=5.0)
    served = None
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(webguard.TOKEN_ENV, str(tmp / "token"))
        try:
            served = Served(bench.port, tmp / "t.db", _env(tmp), free_port(),
                            extra=["--token-file", str(tmp / "token")])
            yield {"served": served, "tmp": tmp}
        finally:
            if served is not None:
                served.stop()
            bench.close()


def _http(served, method, path, body=None, headers=None):
    """(status, decoded JSON or text, response headers) of one request, any status."""
    c = http.client.HTTPConnection("127.0.0.1", served.http_port, timeout=GUARD_S)
    try:
        h = {"Host": "127.0.0.1:%d" % served.http_port}
        h.update(headers or {})
        data = body.encode() if isinstance(body, str) else body
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read().decode()
        try:
            out = json.loads(raw)
        except ValueError:
            out = raw
        return r.status, out, {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


def _tcs_out(served, headers=None):
    status, st, _ = _http(served, "GET", "/api/status", headers=headers)
    assert status == 200, st
    return st["link"]["tcs_out"]


JSON = {"Content-Type": "application/json"}
PING = json.dumps({"name": "PING", "args": {}})


def test_a_foreign_pages_command_is_refused_and_nothing_is_sent(open_gw):
    own = "http://127.0.0.1:%d" % open_gw.http_port
    before = _tcs_out(open_gw)
    # A fetch from a foreign page without a preflight: text/plain, its Origin
    status, out, _ = _http(open_gw, "POST", "/api/command", PING,
                           {"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert status == 415 and "application/json" in out["error"]
    # JSON from a foreign origin (a browser would have preflighted it; a tool need not)
    status, out, _ = _http(open_gw, "POST", "/api/command", PING,
                           dict(JSON, Origin="http://evil.example"))
    assert status == 403 and "evil.example" in out["error"]
    status, _, _ = _http(open_gw, "POST", "/api/command", PING,
                         dict(JSON, **{"Sec-Fetch-Site": "cross-site"}))
    assert status == 403
    assert _tcs_out(open_gw) == before
    # The page's own request (its Origin) and a tool's (none) are sent
    status, out, _ = _http(open_gw, "POST", "/api/command", PING, dict(JSON, Origin=own))
    assert status == 200 and out["name"] == "PING", out
    status, out, _ = _http(open_gw, "POST", "/api/command", PING, JSON)
    assert status == 200 and out["name"] == "PING", out
    assert _tcs_out(open_gw) == before + 2


def test_a_rebound_name_is_not_this_gateway(open_gw):
    port = open_gw.http_port
    status, out, _ = _http(open_gw, "GET", "/api/status",
                           headers={"Host": "evil.example:%d" % port})
    assert status == 403 and "evil.example" in out["error"]
    for host in ("localhost:%d" % port, "127.0.0.1:%d" % port):
        status, out, _ = _http(open_gw, "GET", "/api/status", headers={"Host": host})
        assert status == 200 and out["link"]["state"] == "up"


def test_malformed_queries_are_said_not_crashed(open_gw):
    for path in ("/api/commands?n=abc", "/api/commands?n=0", "/api/commands?n=-5",
                 "/api/commands?n=100000", "/api/stream?after=abc", "/api/stream?after=-1"):
        status, out, _ = _http(open_gw, "GET", path)
        assert status == 400 and "expected an integer" in out["error"], (path, status, out)
    status, out, _ = _http(open_gw, "GET", "/api/commands?n=1")
    assert status == 200 and isinstance(out, list) and len(out) <= 1


def _tc(opcode_name, seq=0):
    from flight.cmddict import BY_NAME

    key = load_key()  # the development key: the simulated payload's
    return wire.encode_tc(key.key, key.key_id, 1, BY_NAME[opcode_name].opcode, {}, seq=seq)


def test_only_tc_shaped_packets_are_forwarded(open_gw):
    before = _tcs_out(open_gw)
    good = _tc("PING")
    tm_type = bytes([good[0] & ~0x10]) + good[1:]
    long_len = bytes(good[:4]) + (600 - 7).to_bytes(2, "big") + bytes(600 - 6)
    short_field = good[:4] + (len(good) - 8).to_bytes(2, "big") + good[6:]
    for pkt, why in ((long_len, "6..512"), (tm_type, "type TC"), (b"\x10\x00", "6..512"),
                     (short_field, "length field")):
        status, out, _ = _http(open_gw, "POST", "/api/tc",
                               json.dumps({"packet": pkt.hex(), "client": "t"}), JSON)
        assert status == 400 and why in out["error"], (why, status, out)
    assert _tcs_out(open_gw) == before
    # A TC whose client claims another command: the history names the packet's
    status, out, _ = _http(open_gw, "POST", "/api/tc", json.dumps(
        {"packet": good.hex(), "client": "x" * 500, "name": "REBOOT", "args": {}}), JSON)
    assert status == 200 and out["name"] == "PING" and len(out["client"]) == 80, out
    assert _tcs_out(open_gw) == before + 1


def test_request_bodies_are_bounded(open_gw):
    status, out, _ = _http(open_gw, "POST", "/api/tc",
                           json.dumps({"packet": "00" * 40000}), JSON)
    assert status == 413 and "65536" in out["error"]
    # A body without its length (chunked): refused, not read without bound
    c = http.client.HTTPConnection("127.0.0.1", open_gw.http_port, timeout=GUARD_S)
    try:
        c.putrequest("POST", "/api/command")
        c.putheader("Content-Type", "application/json")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(PING), PING.encode()))
        r = c.getresponse()
        assert r.status == 411, r.read()
    finally:
        c.close()


def test_a_token_gateway_answers_only_with_its_token(token_gw):
    served = token_gw["served"]
    auth = {"Authorization": "Bearer " + TOKEN}
    for headers in ({}, {"Authorization": "Bearer " + TOKEN[:-1] + "X"},
                    {"Cookie": "%s=nope" % webguard.COOKIE}):
        status, out, _ = _http(served, "GET", "/api/status", headers=headers)
        assert status == 401 and webguard.TOKEN_ENV in out["error"], (headers, out)
        status, _, _ = _http(served, "POST", "/api/command", PING, dict(JSON, **headers))
        assert status == 401
    assert _tcs_out(served, auth) == 0
    # The page: /?token= signs it in with a cookie its own requests carry, then drops
    # the token from the address
    status, _, h = _http(served, "GET", "/?token=" + urllib.parse.quote(TOKEN))
    assert status == 303 and h["location"] == "/"
    cookie = h["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = {"Cookie": cookie.split(";")[0]}
    status, out, _ = _http(served, "GET", "/api/status", headers=jar)
    assert status == 200 and out["link"]["state"] == "up"
    status, page, _ = _http(served, "GET", "/", headers=jar)
    assert status == 200 and "<html" in page.lower()
    status, out, _ = _http(served, "POST", "/api/command", PING, dict(JSON, **jar))
    assert status == 200 and out["name"] == "PING", out
    assert _tcs_out(served, auth) == 1


def _cli(env, *argv):
    return subprocess.run([sys.executable, "-m", "ground_tools", *argv], cwd=str(ROOT),
                          env=env, capture_output=True, text=True, timeout=GUARD_S)


def test_the_cli_reaches_a_token_gateway_with_its_file(token_gw):
    served, tmp = token_gw["served"], token_gw["tmp"]
    env = _env(tmp)
    r = _cli(env, "send", "PING", "--gateway", served.url, "--json")
    assert r.returncode != 0 and webguard.TOKEN_ENV in r.stderr, (r.returncode, r.stderr)
    env[webguard.TOKEN_ENV] = str(tmp / "token")
    r = _cli(env, "send", "PING", "--gateway", served.url, "--json")
    assert r.returncode == 0, r.stderr
    assert any(json.loads(ln).get("stage") == "complete" for ln in r.stdout.splitlines()
               if ln.startswith("{")), r.stdout


def test_the_event_stream_says_a_refusal(token_gw, monkeypatch):
    (token_gw["tmp"] / "wrong").write_text("wrong-token-0123456789abcdef\n")
    monkeypatch.setenv(webguard.TOKEN_ENV, str(token_gw["tmp"] / "wrong"))
    ev = gwclient.EventStream(token_gw["served"].url)
    try:
        ev._thread.join(GUARD_S)
        assert not ev._thread.is_alive() and not ev.connected.is_set()
        assert ev.refused and "needs its token" in ev.refused
    finally:
        ev.close()


def test_beyond_the_loopback_a_gateway_needs_a_token(tmp_path):
    env = _env(tmp_path)
    r = _cli(env, "serve", "--port", "/dev/null", "--db", str(tmp_path / "x.db"),
             "--http", "0.0.0.0:%d" % free_port())
    assert r.returncode == 2 and "--token-file" in r.stderr, (r.returncode, r.stderr)
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened
    (tmp_path / "short").write_text("abc\n")
    r = _cli(env, "serve", "--port", "/dev/null", "--db", str(tmp_path / "x.db"),
             "--http", "0.0.0.0:%d" % free_port(), "--token-file", str(tmp_path / "short"))
    assert r.returncode == 2 and "at least 16" in r.stderr, r.stderr


def test_guard_settings(tmp_path, monkeypatch):
    monkeypatch.delenv(webguard.TOKEN_ENV, raising=False)
    tok = tmp_path / "tok"
    tok.write_text(TOKEN + "\n")
    token, names = webguard.settings("127.0.0.1")
    assert token is None and {"localhost", "127.0.0.1", "::1"} <= names
    assert webguard.settings("::1")[0] is None
    with pytest.raises(webguard.GuardError):
        webguard.settings("192.168.1.5")
    with pytest.raises(webguard.GuardError):
        webguard.settings("0.0.0.0")
    token, names = webguard.settings("192.168.1.5", str(tok), ["Ops.Example"])
    assert token == TOKEN and {"192.168.1.5", "ops.example", "localhost"} <= names
    assert webguard.settings("0.0.0.0", str(tok)) == (TOKEN, None)
    monkeypatch.setenv(webguard.TOKEN_ENV, str(tok))
    assert webguard.settings("0.0.0.0")[0] == TOKEN
    with pytest.raises(webguard.GuardError, match="cannot read"):
        webguard.settings("127.0.0.1", str(tmp_path / "missing"))
