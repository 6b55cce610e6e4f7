"""Read a MicroPython manifest (board/manifest.py, tests/manifest.py) on the host.

A manifest is Python code calling ``package()``, ``module()``, ``freeze()``,
``include()`` ... (MicroPython's ``tools/manifestfile.py``).  This module runs it with stub
functions of the same signatures and semantics, so the host tools (``make mpy``,
``make deploy``, the MicroPython VM runner, the tests) get the exact file list a
firmware build would freeze, without a MicroPython tree:

    read(BOARD)  -> [Entry(source=Path, target="flight/app.py"), ...]

``target`` is the path on the board (the frozen module's name with ``.py``), ``source``
the file in the repository.  As in MicroPython, relative paths are relative to the
manifest being run (its folder is the working directory while it runs), ``include()``
of a folder means its ``manifest.py``, and a manifest included twice counts once.
``require()`` and ``$(MPY_DIR)``-style paths need a MicroPython tree: the project's
manifests use neither, and using them here is an error that says so.

    python -m tools.manifest [board|test|PATH]   # print source -> target, one a line
"""

import os
import sys
from collections import namedtuple
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOARD = ROOT / "board" / "manifest.py"
TEST = ROOT / "tests" / "manifest.py"

Entry = namedtuple("Entry", "source target")


class ManifestError(Exception):
    """The manifest is wrong (missing file, conflicting targets) or needs MicroPython."""


class _Options:
    """``options`` of an included manifest (``include(path, name=value)``)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def defaults(self, **kwargs):
        for k, v in kwargs.items():
            self.__dict__.setdefault(k, v)

    def __getattr__(self, name):  # unset options read as None, as in MicroPython
        return None


class _Reader:
    def __init__(self):
        self.entries = []
        self._targets = {}
        self._visited = set()

    # --------------------------------------------------------------------- helpers
    @staticmethod
    def _resolve(path):
        if "$(" in path:
            raise ManifestError(
                "%s: path variables need a MicroPython tree (firmware build only)" % path)
        return os.path.abspath(path)

    def _add(self, full_path, target):
        if not os.path.isfile(full_path):
            raise ManifestError("Cannot stat %s" % full_path)
        target = target.replace(os.sep, "/")
        source = Path(full_path).resolve()
        known = self._targets.get(target)
        if known is not None:
            if known != source:
                raise ManifestError("%s listed twice: %s and %s" % (target, known, source))
            return
        self._targets[target] = source
        self.entries.append(Entry(source, target))

    def _search(self, base_path, package_path, files, exts):
        base = self._resolve(base_path)
        if files is not None:
            for f in files:
                if package_path:
                    f = os.path.join(package_path, f)
                self._add(os.path.join(base, f), f)
            return
        top = os.path.join(base, package_path or "")
        if not os.path.isdir(top):
            raise ManifestError("Cannot stat %s" % top)
        found = []
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            dirnames.sort()
            for name in sorted(filenames):
                if os.path.splitext(name)[1].lower() in exts:
                    found.append(os.path.relpath(os.path.join(dirpath, name), base))
        for f in found:
            self._add(os.path.join(base, f), f)

    # ------------------------------------------------------ the manifest functions
    def include(self, manifest_path, is_require=False, **kwargs):
        if not isinstance(manifest_path, str):
            for m in manifest_path:
                self.include(m, **kwargs)
            return
        path = self._resolve(manifest_path)
        if os.path.isdir(path):
            path = os.path.join(path, "manifest.py")
        if path in self._visited:
            return
        self._visited.add(path)
        try:
            with open(path) as f:
                code = f.read()
        except OSError as e:
            raise ManifestError("Cannot read manifest %s: %s" % (path, e)) from e
        prev = os.getcwd()
        os.chdir(os.path.dirname(path))
        try:
            exec(compile(code, path, "exec"), self._globals(kwargs))
        except ManifestError:
            raise
        except Exception as e:
            raise ManifestError("Error in manifest file: %s: %r" % (path, e)) from e
        finally:
            os.chdir(prev)

    def package(self, package_path, files=None, base_path=".", opt=None):
        self._search(base_path, package_path, files, (".py",))

    def module(self, module_path, base_path=".", opt=None):
        if os.path.splitext(module_path)[1].lower() != ".py":
            raise ManifestError("module must be .py file")
        self._add(os.path.join(self._resolve(base_path), module_path), module_path)

    def _freeze(self, path, script, exts):
        if script is None:
            self._search(path, None, None, exts)
        elif isinstance(script, str) and os.path.isdir(os.path.join(path, script)):
            self._search(path, script, None, exts)
        elif not isinstance(script, str):
            self._search(path, None, script, exts)
        else:
            self._search(path, None, (script,), exts)

    def freeze(self, path, script=None, opt=None):
        self._freeze(path, script, (".py", ".mpy"))

    def freeze_as_mpy(self, path, script=None, opt=None):
        self._freeze(path, script, (".py",))

    def freeze_mpy(self, path, script=None, opt=None):
        self._freeze(path, script, (".mpy",))

    def freeze_as_str(self, path):
        self._search(path, None, None, (".py",))

    @staticmethod
    def require(name, *args, **kwargs):
        raise ManifestError("require(%r) needs micropython-lib (a MicroPython tree)" % name)

    @staticmethod
    def add_library(*args, **kwargs):
        raise ManifestError("add_library() needs a MicroPython tree")

    @staticmethod
    def metadata(**kwargs):
        return None

    def _globals(self, kwargs):
        return {
            "__name__": "manifest",
            "metadata": self.metadata,
            "include": self.include,
            "require": self.require,
            "add_library": self.add_library,
            "package": self.package,
            "module": self.module,
            "options": _Options(**kwargs),
            "freeze": self.freeze,
            "freeze_as_str": self.freeze_as_str,
            "freeze_as_mpy": self.freeze_as_mpy,
            "freeze_mpy": self.freeze_mpy,
        }


def read(manifest=BOARD):
    """[Entry(source, target)] that ``manifest`` (a path) lists, in its order."""
    r = _Reader()
    r.include(str(Path(manifest).resolve()))
    return r.entries


def targets(manifest=BOARD):
    """The board-side paths (``"flight/app.py"``, ``"main.py"``) the manifest lists."""
    return [e.target for e in read(manifest)]


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    which = args[0] if args else "board"
    path = {"board": BOARD, "test": TEST}.get(which, Path(which))
    try:
        entries = read(path)
    except ManifestError as e:
        print("manifest: error: %s" % e, file=sys.stderr)
        return 1
    for e in entries:
        try:
            src = e.source.relative_to(ROOT).as_posix()
        except ValueError:
            src = str(e.source)
        print("%-40s -> %s" % (src, e.target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
