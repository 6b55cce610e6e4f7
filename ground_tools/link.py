"""The serial link to the payload: open a pyserial URL, send TCs, collect TM, match reports.

``--port`` takes anything ``serial.serial_for_url`` opens: a device (``/dev/ttyUSB0``), a
pty (``/dev/pts/7``), ``socket://host:port``, ``rfc2217://host:port``, ``loop://``.

Simulated or real?  The public development key must not command a real payload, so the
tool classifies the port (:func:`is_simulated_port`).  *Simulated*: a pseudo-terminal
(``/dev/pts/N``, or a path that resolves to one, as socat/bench links create), ``loop://``,
and ``socket://`` to this machine (``localhost``, ``127.x.x.x``, ``::1``).  Everything else —
USB/UART devices, ``rfc2217://``, ``socket://`` to another host — counts as *real*.
"""

import os
import re
import select
import stat
import time
from collections import deque

import serial

from ground_tools import wire

# Exit codes shared by the CLI (documented in docs/ground-tool.md).
EXIT_OK = 0
EXIT_ERROR = 1  # unexpected internal error
EXIT_USAGE = 2  # bad command line, argument, key file, script syntax, dev key refused
EXIT_REJECTED = 3  # acceptance failure report (CRC, AUTH, REPLAY, BAD_ARG, WRONG_MODE, ...)
EXIT_FAILED = 4  # accepted, but completion failure report (or a script `expect` failed)
EXIT_TIMEOUT = 5  # no report / telemetry condition within the timeout
EXIT_LINK = 6  # port does not open, or fails while in use

_PTY_MAJORS = range(136, 144)  # Linux Unix98 pty slaves (/dev/pts/N)
_LOCAL_HOSTS = ("localhost", "::1", "[::1]", "ip6-localhost")


class LinkError(Exception):
    """The port does not open or fails (one-line message)."""


def _is_pty_path(path):
    real = os.path.realpath(path)
    if real.startswith("/dev/pts/"):
        return True
    try:
        st = os.stat(real)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in _PTY_MAJORS


def is_simulated_port(url):
    """True for a pty, ``loop://`` and ``socket://`` to this machine (see module doc)."""
    u = url.strip()
    low = u.lower()
    if low.startswith("loop://"):
        return True
    if low.startswith("spy://") or low.startswith("alt://"):
        inner = u.split("://", 1)[1]
        inner = inner.split("?", 1)[0]
        return is_simulated_port(inner) if inner else False
    if low.startswith("socket://"):
        hostport = u[len("socket://"):].split("?", 1)[0]
        if hostport.startswith("["):
            host = hostport[1:].split("]", 1)[0]
        else:
            host = hostport.rsplit(":", 1)[0]
        host = host.lower()
        return host in _LOCAL_HOSTS or host.startswith("127.") or host == "::1"
    if "://" in u:
        return False  # rfc2217://, hwgrep://, ...: a real device somewhere
    return _is_pty_path(u)


def check_port(url):
    """LinkError for what can never be a port (empty, a regular file or a directory), so
    that the operator hears about the port before anything else (the key rules)."""
    if not str(url).strip():
        raise LinkError("no port given: --port needs a serial device or pyserial URL "
                        "(/dev/ttyUSB0, /dev/pts/N, socket://host:port, loop://)")
    u = str(url).strip()
    if "://" not in u and os.path.exists(u):
        st = os.stat(u)
        if not stat.S_ISCHR(st.st_mode):
            raise LinkError("cannot open port %s: not a serial device (%s)" % (
                url, "a directory" if stat.S_ISDIR(st.st_mode) else "a regular file"))


def open_port(url, baud=115200, timeout=0.05, exclusive=True):
    """``serial.serial_for_url`` with a one-line LinkError instead of a traceback.

    The port is locked (``exclusive``): a second program on the same port would steal
    octets from the first, so it is refused with a clear message instead."""
    check_port(url)
    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=timeout, write_timeout=5,
                                     exclusive=exclusive)
    except (serial.SerialException, OSError, ValueError) as e:
        msg = str(e)
        if "exclusively lock" in msg:
            raise LinkError("port %s is in use by another program (a running `vector-tc "
                            "serve` gateway? then give --gateway URL, or stop the other "
                            "program)" % url) from None
        found = re.findall(r"\[Errno \d+\] ([^:\]]+)", msg)
        why = found[-1].strip() if found else msg
        raise LinkError("cannot open port %s: %s" % (url, why)) from None


class Result:
    """Outcome of one telecommand: ``status`` is completed / rejected / failed / timeout."""

    def __init__(self, name, seq, counter):
        self.name = name
        self.seq = seq
        self.counter = counter
        self.accept = None
        self.complete = None
        self.status = "timeout"

    @property
    def ok(self):
        return self.status == "completed"

    @property
    def reason(self):
        for r in (self.complete, self.accept):
            if r is not None and not r.get("ok"):
                return r.get("reason")
        return None

    @property
    def exit_code(self):
        return {"completed": EXIT_OK, "rejected": EXIT_REJECTED, "failed": EXIT_FAILED,
                "timeout": EXIT_TIMEOUT}[self.status]

    @property
    def result(self):
        return (self.complete or {}).get("result")

    def reports(self):
        return [r for r in (self.accept, self.complete) if r is not None]

    def __repr__(self):
        return "Result(%s seq=%d %s %s)" % (self.name, self.seq, self.status, self.reason)


class GroundLink:
    """One open port: TCs out (authenticated, counters from the store), TM in.

    Received TM is kept in an inbox (bounded) so that a wait can look at what arrived
    while the tool was busy with something else; :meth:`mark` and the ``after``
    argument of :meth:`wait_for` restrict a wait to packets that arrived later.
    """

    def __init__(self, port, key, store, baud=115200, apid=wire.APID_TC, inbox=20000,
                 ser=None):
        self.port = port
        self.key = key
        self.store = store
        self.apid = apid
        self.ser = ser if ser is not None else open_port(port, baud)
        self.deframer = wire.TmDeframer()
        self.inbox = deque(maxlen=inbox)  # (index, Tm)
        self.errors = deque(maxlen=1000)  # WireError
        self.received = 0
        self.bytes_in = 0
        self.on_tm = None  # optional callback(Tm or WireError) for every packet
        self.completion_mark = 0  # index of the last completion report seen by command()
        self.accept_mark = 0  # index of the last acceptance report seen by command()
        self.last_hk_time = None  # (monotonic receive time, onboard time) of the newest HK
        self.timetag = None  # (onboard time now, execution time) of the last relative TIMETAG
        self.audit = None  # optional callable(Result, args): the operator's audit log
        try:
            self.ser.reset_input_buffer()  # stale TM queued before we opened
        except (serial.SerialException, OSError, AttributeError):
            pass
        # Reads never block (timeout 0, set once: changing it reconfigures the port);
        # waiting is done with select() on the descriptor when the port has one.
        self.ser.timeout = 0
        try:
            self._fd = self.ser.fileno()
        except (AttributeError, OSError, serial.SerialException, NotImplementedError):
            self._fd = None

    # -------------------------------------------------------------- raw I/O
    def close(self):
        try:
            self.ser.close()
        except Exception:
            pass

    def write(self, data):
        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialException, OSError) as e:
            raise LinkError("write to %s failed: %s" % (self.port, e)) from None

    def poll(self, timeout=0.05):
        """Read what is there (waiting at most ``timeout`` for the first octet)."""
        try:
            if self._fd is not None:
                ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
                data = self.ser.read(65536) if ready else b""
            else:
                end = time.monotonic() + timeout
                data = self.ser.read(65536)
                while not data and time.monotonic() < end:
                    time.sleep(min(0.005, max(0.0, end - time.monotonic())))
                    data = self.ser.read(65536)
        except (serial.SerialException, OSError, ValueError) as e:
            raise LinkError("read from %s failed: %s" % (self.port, e)) from None
        if not data:
            return 0
        self.bytes_in += len(data)
        for item in self.deframer.feed(data):
            if isinstance(item, wire.WireError):
                self.errors.append(item)
            else:
                self._accept_tm(item)
            if self.on_tm is not None:
                self.on_tm(item)
        return len(data)

    def _accept_tm(self, item):
        self.received += 1
        item.index = self.received
        self.inbox.append((self.received, item))
        b = item.body
        if item.apid == wire.APID_HK and isinstance(b, dict) and isinstance(
                b.get("time"), (int, float)):
            # packed HK carries whole seconds + a millisecond field (flight/app.py HK)
            ms = b.get("time_ms", 0)
            self.last_hk_time = (time.monotonic(), float(b["time"]) + (
                ms / 1000.0 if isinstance(ms, (int, float)) else 0.0))

    def onboard_time(self, timeout=5.0):
        """The payload's clock now: the newest housekeeping ``time`` plus the time since
        it arrived (waits up to ``timeout`` for one); None when there is none."""
        if self.last_hk_time is None:
            self.wait_for(lambda tm: tm.apid == wire.APID_HK, timeout, consume=False)
        if self.last_hk_time is None:
            return None
        t_rx, t_hk = self.last_hk_time
        return t_hk + (time.monotonic() - t_rx)

    def mark(self):
        """Index of the newest packet received so far (for ``wait_for(after=...)``)."""
        self.poll(0)
        return self.received

    def wait_for(self, pred, timeout, after=0, consume=True):
        """First packet (index > ``after``) with ``pred(tm)``; None after ``timeout`` s."""
        end = time.monotonic() + timeout
        checked = after
        while True:
            for i, (n, tm) in enumerate(self.inbox):
                if n <= checked:
                    continue
                checked = n
                try:
                    hit = pred(tm)
                except (KeyError, TypeError, IndexError, AttributeError):
                    hit = False
                if hit:
                    if consume:
                        del self.inbox[i]
                    return tm
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.poll(min(left, 0.05))

    # -------------------------------------------------------------- telecommands
    def encode(self, cmd, args, counter=None, seq=None):
        counter, seq = self.store.reserve(self.key, explicit=counter, seq=seq, apid=self.apid)
        pkt = wire.encode_tc(self.key.key, self.key.key_id, counter, cmd.opcode, args, seq=seq,
                             apid=self.apid)
        return pkt, counter, seq

    def send_nowait(self, cmd, args, counter=None, seq=None):
        pkt, counter, seq = self.encode(cmd, args, counter, seq)
        self.write(wire.frame(pkt))
        return seq, counter

    def _report(self, seq, stage):
        apid = self.apid

        def pred(tm):
            b = tm.body
            return (tm.apid == wire.APID_VERIFY and isinstance(b, dict)
                    and b.get("tc_seq") == seq and b.get("tc_apid") == apid
                    and b.get("stage") == stage)

        return pred

    def command(self, cmd, args, timeout=10.0, counter=None, seq=None):
        """Send one TC and wait for its acceptance and completion reports."""
        mark = self.mark()
        args = self._resolve_relative(cmd, args, timeout)
        seq, counter = self.send_nowait(cmd, args, counter, seq)
        res = self.await_reports(cmd.name, seq, counter, mark, timeout)
        if self.audit is not None:
            self.audit(res, args)
        return res

    def _resolve_relative(self, cmd, args, timeout):
        from ground_tools.commands import Relative

        t = args.get("time") if cmd.name == "TIMETAG" else None
        if not isinstance(t, Relative):
            return args
        now = self.onboard_time(min(timeout, 5.0))
        if now is None:
            raise LinkError("TIMETAG time=+%g needs the onboard time, and no housekeeping "
                            "arrived: give an absolute time" % t)
        at = round(now + float(t), 3)
        self.timetag = (now, at)
        return dict(args, time=at)

    def await_reports(self, name, seq, counter, mark, timeout):
        res = Result(name, seq, counter)
        end = time.monotonic() + timeout
        acc = self.wait_for(self._report(seq, "accept"), max(0.0, end - time.monotonic()),
                            after=mark)
        if acc is None:
            return res
        res.accept = acc.body
        self.accept_mark = acc.index
        if not acc.body.get("ok"):
            res.status = "rejected"
            self._learn_replay(acc.body)
            return res
        comp = self.wait_for(self._report(seq, "complete"), max(0.0, end - time.monotonic()),
                             after=mark)
        if comp is None:
            return res
        res.complete = comp.body
        res.status = "completed" if comp.body.get("ok") else "failed"
        self.completion_mark = comp.index
        return res

    def _learn_replay(self, body):
        """A REPLAY rejection tells the payload's high-water mark: never go below it."""
        if body.get("reason") != "REPLAY":
            return
        m = re.search(r"not above (\d+)", str(body.get("detail", "")))
        if m:
            self.store.raise_to(self.key, int(m.group(1)))
