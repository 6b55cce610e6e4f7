"""`make deploy` / `make deploy-dry` (tools/deploy.py): the mpremote command list, and the
run order against a stand-in mpremote that records its arguments."""

import subprocess
import sys

from tools import build_mpy, deploy, manifest
from tests.procutil import GUARD_S, ROOT


def make_build(tmp_path):
    """A stand-in `make mpy` output: every file the board manifest lists."""
    b = tmp_path / "build"
    for f in deploy.board_layout()[2]:
        (b / f).parent.mkdir(parents=True, exist_ok=True)
        (b / f).write_bytes(b"M")
    return b


def test_dry_run_prints_the_mpremote_commands(tmp_path):
    b = make_build(tmp_path)
    p = subprocess.run([sys.executable, "-m", "tools.deploy", "--port", "/dev/ttyACM3",
                        "--build", str(b), "--dry-run"], cwd=str(ROOT), capture_output=True,
                       text=True, timeout=GUARD_S)
    assert p.returncode == 0, p.stderr
    lines = [ln.split("   #")[0] for ln in p.stdout.splitlines()]
    assert lines == [
        "mpremote connect /dev/ttyACM3 exec pass",
        "mpremote connect /dev/ttyACM3 fs cp -r %s/flight %s/hal : + fs cp %s/main.py "
        ":main.py" % (b, b, b),
        "mpremote connect /dev/ttyACM3 reset",
    ]
    assert "# maintenance (may fail" in p.stdout


def test_plan_with_key_provisioning_and_without_maintenance():
    steps = deploy.plan("COM4", "build", key_file="k.txt", maintenance=False)
    assert [s[0] for s in steps] == ["copy", "unflag", "reset"]
    cp = steps[0][1]
    assert cp[:6] == ["mpremote", "connect", "COM4", "fs", "cp", "-r"]
    assert cp[-5:] == ["+", "fs", "cp", "k.txt", ":keys.txt"]
    assert "build/main.py" in cp and ":main.py" in cp


def test_what_is_copied_comes_from_the_board_manifest():
    packages, modules, files = deploy.board_layout()
    assert packages == ["flight", "hal"] and modules == ["main.py"]
    assert files == [build_mpy.built_name(t) for t in manifest.targets(manifest.BOARD)]
    # The simulated backend is not shipped (and not expected in the build).
    assert not any(f.startswith(("hal/sim/", "sim/")) for f in files)
    cp = deploy.plan("P", "build", maintenance=False)[0][1]
    assert not any("sim" in a for a in cp)


def test_plan_follows_another_manifest(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "boot.py").write_text("")
    (tmp_path / "main.py").write_text("")
    m = tmp_path / "manifest.py"
    m.write_text('package("app")\nmodule("boot.py")\nmodule("main.py")\n')
    cp = deploy.plan("P", "b", maintenance=False, manifest=m)[0][1]
    assert cp[6:] == ["b/app", ":", "+", "fs", "cp", "b/boot.py", ":boot.py",
                      "+", "fs", "cp", "b/main.py", ":main.py"]
    assert deploy.check_build(tmp_path / "none", manifest=m) == [
        "app/__init__.mpy", "boot.py", "main.py"]


def test_missing_build_is_reported(tmp_path):
    p = subprocess.run([sys.executable, "-m", "tools.deploy", "--port", "/dev/ttyACM0",
                        "--build", str(tmp_path / "none")], cwd=str(ROOT), capture_output=True,
                       text=True, timeout=GUARD_S)
    assert p.returncode == 1 and "run `make mpy` first" in p.stderr
    assert "flight/__init__.mpy" in p.stderr  # names what is missing
    p = subprocess.run([sys.executable, "-m", "tools.deploy", "--port", "/dev/ttyACM0",
                        "--build", str(tmp_path / "none"), "--dry-run"], cwd=str(ROOT),
                       capture_output=True, text=True, timeout=GUARD_S)
    assert p.returncode == 0 and "missing" in p.stdout


def test_run_order_and_tolerated_maintenance_failure(tmp_path, monkeypatch, capsys):
    b = make_build(tmp_path)
    log = tmp_path / "calls.txt"
    fake = tmp_path / "mpremote"
    fake.write_text("#!%s\nimport sys\nopen(%r, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                    "sys.exit(1 if 'exec' in sys.argv else 0)\n" % (sys.executable, str(log)))
    fake.chmod(0o755)
    monkeypatch.setattr(deploy, "mpremote_binary", lambda: str(fake))
    monkeypatch.setattr(deploy, "REENUMERATE_S", 0.0)
    rc = deploy.main(["--port", "/dev/ttyACM0", "--build", str(b)])
    assert rc == 0
    calls = log.read_text().splitlines()
    assert [c.split()[2] for c in calls] == ["exec", "fs", "reset"]
    assert "expected if the application was running" in capsys.readouterr().out
    # a failing copy stops the deploy with mpremote's status
    fake.write_text("#!%s\nimport sys\nsys.exit(3 if 'cp' in sys.argv else 0)\n" % sys.executable)
    assert deploy.main(["--port", "/dev/ttyACM0", "--build", str(b)]) == 3
