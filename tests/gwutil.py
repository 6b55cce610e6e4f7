"""Helpers of the gateway tests: `vector-tc serve` as a restartable subprocess."""

import signal
import socket
import subprocess
import sys
import time

from ground_tools import gwclient
from tests.procutil import GUARD_S, ROOT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=GUARD_S, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Served:
    """`vector-tc serve` as a subprocess (restartable, same port, db and HTTP address)."""

    def __init__(self, port, db, env, http_port, extra=()):
        self.port, self.db, self.env, self.extra = port, db, env, list(extra)
        self.url = "http://127.0.0.1:%d" % http_port
        self.http_port = http_port
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ground_tools", "serve", "--port", self.port, "--db",
             str(self.db), "--http", "127.0.0.1:%d" % self.http_port] + self.extra, cwd=str(ROOT),
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("serve exited: %s" % self.proc.stderr.read())
            try:
                return gwclient.status(self.url, timeout=1.0)["link"]["state"] == "up"
            except gwclient.GatewayError:
                return False

        assert wait_until(up, GUARD_S, 0.1), "gateway did not come up within %g s" % GUARD_S

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        out = self.proc.stdout.read() if self.proc else ""
        return out
