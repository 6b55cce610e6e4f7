"""Host builds of the APT's kernels for the simulator (docs/simulator.md "Speed").

On CPython the flight code runs the plain-Python twins of its viper kernels (the
predictor's frame step and codes, the wheel lines' step and codes, the centroid): ~60 %
of a simulated pass's CPU time.  The C files beside this module are the same integer
arithmetic, statement for statement: ``predict.c``, ``wheels.c``, ``pixels.c`` (and
``camera.c``, the simulated camera's spot loops, the same double operations), ``common.h``
their array access with Python's rules, ``module.c`` their entries.  :func:`install` puts
them in the twins' place for a pass; the function it returns puts the twins back.  A pass
flown on them is the pass flown on the twins, bit for bit (tests/test_hostkernels.py);
``python -m sim --py-kernels`` flies the twins.

The module is built on first use with the host's C compiler (``CC``, else ``cc``) and
Python's headers into ``build/hostkernels/`` (~1 s), named by a hash of its sources, its
constants and the interpreter, so an edit never loads a stale build.  Every layout
constant comes from its home module as a ``-D`` flag (:func:`constants`).  Without a
compiler or Python's headers (:func:`missing`) the simulator says so once and flies the
twins: the same figures, slower.
"""

import hashlib
import importlib.machinery
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

_DIR = Path(__file__).resolve().parent
_OUT = _DIR.parents[2] / "build" / "hostkernels"

_state = {"module": None, "why_not": None, "said": False}


def constants():
    """The kernels' constants, ``{macro: value}``, read from their home modules: ``P_`` the
    predictor's (flight/predict_py.py), ``X_`` the centroid's (flight/apt_pixels.py), ``W_``
    the wheel lines' (flight/apt_wheels.py), ``S_`` the camera's (sim/camera.py), the
    mirror's code range (hal/interfaces.py)."""
    from flight import apt_pixels, apt_wheels, predict_py
    from hal import interfaces
    from sim import camera

    out = {}
    for prefix, mod in (("P_", predict_py), ("X_", apt_pixels), ("W_", apt_wheels),
                        ("S_", camera)):
        for name, value in vars(mod).items():
            bare = name.lstrip("_")
            if type(value) in (int, float) and bare[:1].isupper() and \
                    bare.replace("_", "").isalnum():
                out[prefix + bare] = repr(value)  # (a float's repr reads back exactly)
    out["FSM_CODE_MIN"] = repr(interfaces.FSM_CODE_MIN)
    out["FSM_CODE_MAX"] = repr(interfaces.FSM_CODE_MAX)
    return out


def _build_id(flags):
    h = hashlib.sha256()
    for src in sorted(_DIR.glob("*.[ch]")):
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    h.update(repr(sorted(flags.items())).encode())
    h.update(sys.version.encode() + str(sysconfig.get_config_var("EXT_SUFFIX")).encode())
    return "_kernels_" + h.hexdigest()[:16]


def _cc():
    """The C compiler's command (``CC``, else ``cc``), as a list."""
    return shlex.split(os.environ.get("CC") or "cc")


def _include():
    """Python's headers' folder."""
    return Path(sysconfig.get_paths()["include"])


def missing():
    """Why this host cannot build the kernels (no C compiler, no Python headers), or None."""
    cc = _cc()
    if not cc or shutil.which(cc[0]) is None:
        return "no C compiler (%s)" % (cc[0] if cc else "CC is empty")
    inc = _include()
    if not (inc / "Python.h").is_file():
        return "no Python headers (%s/Python.h; Debian: python3-dev)" % inc
    return None


def build():
    """Compile the C files (when their build is missing) and return the built file's path.
    Raises OSError or subprocess.CalledProcessError with the compiler's message."""
    flags = constants()
    name = _build_id(flags)
    path = _OUT / (name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    if path.exists():
        return path, name
    _OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    # (-ffp-contract=off: no fused multiply-add, the camera's doubles rounded as Python's)
    cmd = _cc() + ["-O2", "-ffp-contract=off", "-shared", "-fPIC", "-Wall", "-Werror",
                   "-I", str(_include()),
                   f"-DMODULE_NAME=\"{name}\"", f"-DMODULE_NAME_ID={name}"]
    cmd += [f"-D{k}={v}" for k, v in sorted(flags.items())]
    cmd += ["-o", str(tmp)] + [str(p) for p in sorted(_DIR.glob("*.c"))] + ["-lm"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
        os.replace(tmp, path)  # (atomic: a campaign's workers may build at once)
    finally:
        if tmp.exists():
            tmp.unlink()
    for old in _OUT.glob("_kernels_*"):  # earlier sources' builds: never loaded again
        if old != path and not old.name.endswith(".tmp"):
            old.unlink(missing_ok=True)
    return path, name


def load():
    """The built module, or None (the reason in :func:`why_not`)."""
    if _state["module"] is None and _state["why_not"] is None:
        _state["why_not"] = missing()
        if _state["why_not"] is not None:
            return None
        try:
            path, name = build()
            spec = importlib.util.spec_from_file_location(
                name, path, loader=importlib.machinery.ExtensionFileLoader(name, str(path)))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            _state["module"] = mod
        except subprocess.CalledProcessError as e:
            _state["why_not"] = "the C compiler failed: " + (e.stderr or "").strip()[-400:]
        except (OSError, ImportError, subprocess.SubprocessError) as e:
            _state["why_not"] = f"{type(e).__name__}: {e}"
    return _state["module"]


def why_not():
    """Why :func:`load` has no module (None when it has one or was not asked)."""
    return _state["why_not"]


# Where each kernel is called from: (module, its global, the host kernel's name, the name
# of the twin the global holds until install; None: the camera's slot holds None, its
# loops are inline in Camera._spot).
_SLOTS = (
    ("flight.apt_predict", "_frame", "predict_frame", "frame_py"),
    ("flight.apt_predict", "_codes", "predict_codes", "codes_py"),
    ("flight.apt_wheels", "_step", "wheels_step", "step_py"),
    ("flight.apt_wheels", "_codes", "wheels_codes", "codes_py"),
    ("flight.apt_pixels", "centroid_k", "centroid", "centroid_py"),
    ("sim.camera", "host_spot", "camera_spot", None),
)


def install(quiet=False):
    """Put the host kernels in the twins' place; returns a function that puts the twins
    back, or None when there is no build (said once on stderr unless ``quiet``).  A slot
    that holds no twin (a port that runs its viper kernel) is left alone."""
    mod = load()
    if mod is None:
        if not quiet and not _state["said"]:
            _state["said"] = True
            print(f"sim: the host kernels are not built ({why_not()}); flying the flight "
                  "code's Python twins: the same figures, ~2x slower", file=sys.stderr)
        return None
    import importlib

    saved = []
    for modname, attr, kname, twin in _SLOTS:
        owner = importlib.import_module(modname)
        was = getattr(owner, attr)
        if getattr(was, "__name__", None) != twin:
            continue
        saved.append((owner, attr, was))
        setattr(owner, attr, getattr(mod, kname))

    def restore():
        for owner, attr, was in saved:
            setattr(owner, attr, was)

    return restore
