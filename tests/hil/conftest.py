"""HIL bench fixtures.

``pytest tests/hil --port /dev/ttyUSB0 [--baud 115200] [--key-file F]`` runs the suite
against a real payload computer through the ground tool's link layer (real board: the
counter state is the operator's, ``~/.vector-tc/counters.json`` or ``$VECTOR_TC_STATE``,
so counters are never reused across runs; the key comes from ``--key-file`` or
``$VECTOR_TC_KEY_FILE``).  Without ``--port`` the same tests run against the simulated
payload (``python -m flight --board sim`` at ``--speed 1``, real time) on a pty, with its
own state directory and counter file; with ``hal/sim/world.py`` present it flies
``--scenario nominal``.
"""

import os
from pathlib import Path

import pytest

from ground_tools import state
from ground_tools.link import LinkError, is_simulated_port
from tests.hil.hil import Hil

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "hal" / "sim" / "world.py"


def pytest_addoption(parser):
    g = parser.getgroup("hil", "hardware-in-the-loop bench")
    g.addoption("--port", default=None, help="serial port / pyserial URL of a real payload")
    g.addoption("--baud", type=int, default=115200, help="baud rate of --port")
    g.addoption("--key-file", default=None, help="TC key file of the real payload "
                "(default $VECTOR_TC_KEY_FILE)")
    g.addoption("--target", default=None, choices=("qemu",),
                help="run against the firmware: the QEMU Cortex-M7 image's UART on a pty "
                "(tools/target_hil.py; default $VECTOR_HIL_TARGET)")
    g.addoption("--dev-key", action="store_true", default=False,
                help="allow the public development key on the real payload (bench board)")


def _opt(config, name, default=None):
    try:
        return config.getoption(name)
    except ValueError:  # option not registered (conftest loaded late)
        return default


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/hil/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.hil)


@pytest.fixture(scope="session")
def hil(tmp_path_factory, request):
    port = _opt(request.config, "--port") or os.environ.get("VECTOR_HIL_PORT")
    if port:
        baud = _opt(request.config, "--baud", 115200)
        try:
            key = state.load_key(_opt(request.config, "--key-file"))
        except state.KeyLoadError as e:
            pytest.exit("HIL: %s" % e, returncode=2)
        if key.is_dev and not is_simulated_port(port) and not _opt(request.config, "--dev-key"):
            pytest.exit("HIL: refusing the public DEVELOPMENT key on %s: give --key-file "
                        "(or $VECTOR_TC_KEY_FILE), or --dev-key for a bench board" % port,
                        returncode=2)
        store = state.CounterStore()  # the operator's: never reuse a counter on a board
        try:
            h = Hil(port, key, store, baud=baud, real=True, speed=1.0, scenario=True)
        except LinkError as e:
            pytest.exit("HIL: %s" % e, returncode=2)
        yield h
        h.close()
        return
    d = tmp_path_factory.mktemp("hil")
    if (_opt(request.config, "--target") or os.environ.get("VECTOR_HIL_TARGET")) == "qemu":
        from tools.target_hil import QemuBench

        qbench = QemuBench(scenario="nominal")
        store = state.CounterStore(str(d / "counters.json"))
        h = Hil(qbench.port, state.load_key(None), store, real=False, speed=1.0,
                scenario=True, bench=qbench)
        try:
            h.wait_ready()
            yield h
        finally:
            h.close()
            qbench.close()
        return
    from tests.hil.simbench import SimBench

    scenario = "nominal" if WORLD.exists() else None
    bench = SimBench(d / "payload-state", speed=1.0, scenario=scenario)
    store = state.CounterStore(str(d / "counters.json"))
    h = Hil(bench.port, state.load_key(None), store, real=False, speed=1.0,
            scenario=scenario is not None, bench=bench)
    try:
        h.wait_ready()
        yield h
    finally:
        h.close()
        bench.close()
