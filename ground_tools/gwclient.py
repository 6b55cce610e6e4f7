"""The CLI's link through a running gateway (``--gateway http://HOST:PORT``).

:class:`GatewayLink` is a :class:`ground_tools.link.GroundLink` whose octets go through the
gateway instead of a serial port: TCs are encoded and signed here (the operator's key file
and counter store, as without a gateway) and posted to ``/api/tc``; telemetry arrives as
server-sent events carrying each packet's raw octets, which are parsed exactly as from the
port.  So ``send``, ``listen`` and ``run`` behave the same with or without a gateway, and
any number of them run at once.

A gateway with a token (``vector-tc serve --token-file``) is reached with the same file:
``$VECTOR_TC_GATEWAY_TOKEN_FILE`` (ground_tools/webguard.py); its refusal is an error that
says so, never a silent retry.

The event stream is read by a thread; when the gateway goes away the thread reconnects
(``after=`` the last packet id seen), so a gateway restart costs no packet the new gateway
archived, and ``send`` waits through it within its timeout.
"""

import json
import queue
import threading
import time
import urllib.error
import urllib.request

from ground_tools import link, webguard, wire


class GatewayError(link.LinkError):
    pass


def _auth():
    """The gateway's token as a request header, when the client has one."""
    try:
        tok = webguard.client_token()
    except webguard.GuardError as e:
        raise GatewayError(str(e)) from None
    return {"Authorization": "Bearer " + tok} if tok else {}


def _req(url, payload=None, timeout=10.0):
    data = None if payload is None else json.dumps(payload).encode()
    r = urllib.request.Request(url, data=data,
                               headers=dict(_auth(), **{"Content-Type": "application/json"}))
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return json.loads(resp.read().decode())
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read().decode()).get("error")
        except (ValueError, AttributeError):
            msg = None
        raise GatewayError("gateway %s: %s" % (url, msg or "HTTP %d" % e.code)) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise GatewayError("gateway %s not reachable: %s" % (
            url, getattr(e, "reason", e))) from None


def client_name():
    """Who sends, for the command history: user@host and process id."""
    import getpass
    import os
    import socket

    try:
        return "%s@%s pid %d" % (getpass.getuser(), socket.gethostname(), os.getpid())
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "pid %d" % os.getpid()


def status(url, timeout=5.0):
    return _req(url.rstrip("/") + "/api/status", timeout=timeout)


class _NoPort:
    """Stands in for the serial object GroundLink would own."""

    def reset_input_buffer(self):
        pass

    def fileno(self):
        raise OSError("no descriptor")

    def close(self):
        pass

    timeout = 0


class EventStream:
    """Server-sent events of ``/api/stream`` into a queue; reconnects after a failure."""

    def __init__(self, url, kinds=None, after=None, reconnect_s=0.3, client="cli"):
        self.url = url.rstrip("/")
        self.kinds = kinds
        self.last_id = after
        self.q = queue.Queue()
        self.connected = threading.Event()
        self.reconnects = 0
        self.reconnect_s = reconnect_s
        self._stop = False
        self._resp = None
        self.refused = None  # the gateway's refusal (401/403): no retry makes it pass
        self._auth = _auth()
        self._thread = threading.Thread(target=self._run, name="gw-events", daemon=True)
        self._thread.start()

    def _open(self):
        q = []
        if self.last_id is not None:
            q.append("after=%d" % self.last_id)
        if self.kinds:
            q.append("kinds=" + ",".join(self.kinds))
        url = self.url + "/api/stream" + ("?" + "&".join(q) if q else "")
        return urllib.request.urlopen(urllib.request.Request(url, headers=self._auth),
                                      timeout=30)

    def _run(self):
        first = True
        while not self._stop:
            try:
                self._resp = self._open()
            except urllib.error.HTTPError as e:
                if e.code in (401, 403):
                    try:
                        why = json.loads(e.read().decode()).get("error")
                    except (ValueError, AttributeError, OSError):
                        why = None
                    self.refused = "gateway %s refused the event stream: %s" % (
                        self.url, why or "HTTP %d" % e.code)
                    return
                self.connected.clear()
                time.sleep(self.reconnect_s)
                continue
            except (urllib.error.URLError, OSError, ValueError):
                self.connected.clear()
                time.sleep(self.reconnect_s)
                continue
            if not first:
                self.reconnects += 1
            first = False
            self.connected.set()
            etype, data, eid = None, [], None
            try:
                for raw in self._resp:
                    if self._stop:
                        return
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if not line:
                        if etype and data:
                            self._dispatch(etype, "\n".join(data), eid)
                        etype, data, eid = None, [], None
                    elif line.startswith("event:"):
                        etype = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
                    elif line.startswith("id:"):
                        eid = line[3:].strip()
            except (OSError, ValueError, AttributeError):
                pass
            self.connected.clear()
            if not self._stop:
                time.sleep(self.reconnect_s)

    def _dispatch(self, etype, data, eid):
        try:
            payload = json.loads(data)
        except ValueError:
            return
        if eid is not None and eid.isdigit():
            self.last_id = int(eid)
        self.q.put((etype, payload))

    def get(self, timeout):
        try:
            return self.q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def close(self):
        self._stop = True
        try:
            if self._resp is not None:
                self._resp.close()
        except Exception:  # noqa: BLE001
            pass


class GatewayLink(link.GroundLink):
    def __init__(self, url, key, store, apid=wire.APID_TC, client="vector-tc", wait_s=10.0):
        self.url = url.rstrip("/")
        self.client = client
        self.gw_status = status(self.url)  # fails early, with the URL, when none runs
        super().__init__(self.url, key, store, apid=apid, ser=_NoPort())
        self.events = EventStream(self.url, kinds=None)
        end = time.monotonic() + wait_s
        while not self.events.connected.wait(0.05):
            if self.events.refused or time.monotonic() >= end:
                self.events.close()
                raise GatewayError(self.events.refused or "gateway %s: no event stream "
                                   "within %g s" % (self.url, wait_s))

    def close(self):
        self.events.close()

    def write(self, data):
        raise GatewayError("raw writes do not go through a gateway")

    def send_nowait(self, cmd, args, counter=None, seq=None):
        pkt, counter, seq = self.encode(cmd, args, counter, seq)
        _req(self.url + "/api/tc", {"packet": pkt.hex(), "client": self.client,
                                    "name": cmd.name, "args": wire.jsonable(args)})
        return seq, counter

    def poll(self, timeout=0.05):
        end = time.monotonic() + timeout
        n = 0
        while True:
            ev = self.events.get(max(0.0, end - time.monotonic()) if n == 0 else 0)
            if ev is None:
                return n
            etype, p = ev
            if etype != "tm":
                continue
            n += 1
            raw = bytes.fromhex(p.get("raw") or "")
            self.bytes_in += len(raw)
            try:
                if not p.get("ok"):
                    err = p.get("error") or "DECODE: bad frame"
                    raise wire.WireError(err.split(":")[0], err.split(": ", 1)[-1])
                item = wire.parse_tm(raw)
            except wire.WireError as e:
                self.errors.append(e)
                item = e
            else:
                self._accept_tm(item)
            if self.on_tm is not None:
                self.on_tm(item)
