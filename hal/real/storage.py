"""Storage: named blobs as files in one directory of the board's flash file system.

``write`` goes to ``<root>/<name>~`` first, then renames over ``<root>/<name>``. On
littlefs (the default on the payload computer) rename replaces atomically; on FAT
``os.rename`` refuses an existing target, so the old file is removed first -- a power loss
in that window leaves no blob, which the flight code's two-slot scheme survives.
Names never contain ``~``, so a temp file cannot collide with a blob.
"""

import errno
import os

from hal.errors import StorageError
from hal.interfaces import Storage
from hal.real._util import errno_of

try:
    from typing import TYPE_CHECKING
except ImportError:  # MicroPython
    TYPE_CHECKING = False

if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional  # noqa: F401

    from _mpy_shed import AnyReadableBuf  # noqa: F401

_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-."
_TMP_SUFFIX = "~"


def check_name(name):
    # type: (str) -> None
    """Raise ValueError unless ``name`` is a valid blob name."""
    if not isinstance(name, str) or not (1 <= len(name) <= 32) or name[0] == ".":
        raise ValueError("blob name")
    for ch in name:
        if ch not in _NAME_CHARS:
            raise ValueError("blob name")


class FileStorage(Storage):
    """:class:`hal.interfaces.Storage` on files under ``root`` (created by :meth:`init`)."""

    def __init__(self, root="/flash/vector", name="storage", max_blob=65536):
        # type: (str, str, int) -> None
        if not root or root[-1] == "/":
            raise ValueError("storage root")
        self.root = root
        self.name = name
        self.max_blob = max_blob

    def _path(self, name):
        # type: (str) -> str
        check_name(name)
        return self.root + "/" + name

    def _fail(self, what, name, exc):
        # type: (str, str, BaseException) -> StorageError
        return StorageError("%s: %s %s failed (errno %d)" % (self.name, what, name, errno_of(exc)))

    def init(self):
        # type: () -> None
        """Create the root directory (and its parents) if missing."""
        path = ""
        for part in self.root.split("/"):
            if not part:
                continue
            path = path + "/" + part if (path or self.root[0] == "/") else part
            try:
                os.stat(path)
            except OSError:
                try:
                    os.mkdir(path)
                except OSError as e:
                    raise self._fail("mkdir", path, e)  # noqa: B904

    def read(self, name):
        # type: (str) -> Optional[bytes]
        path = self._path(name)
        try:
            f = open(path, "rb")
        except OSError as e:
            if errno_of(e) == errno.ENOENT:
                return None
            raise self._fail("open", name, e)  # noqa: B904
        try:
            return f.read()
        except OSError as e:
            raise self._fail("read", name, e)  # noqa: B904
        finally:
            f.close()

    def write(self, name, data):
        # type: (str, AnyReadableBuf) -> None
        path = self._path(name)
        n = len(data)
        if n > self.max_blob:
            raise ValueError("blob too large")
        tmp = path + _TMP_SUFFIX
        try:
            f = open(tmp, "wb")
            try:
                written = f.write(data)
            finally:
                f.close()
        except OSError as e:
            raise self._fail("write", name, e)  # noqa: B904
        if written is not None and written != n:
            raise StorageError("%s: short write of %s (%d of %d)" % (self.name, name, written, n))
        try:
            try:
                os.rename(tmp, path)
            except OSError:
                # FAT: the target must not exist. Anything else fails again below.
                if not self._exists_path(path):
                    raise
                os.remove(path)
                os.rename(tmp, path)
        except OSError as e:
            raise self._fail("rename", name, e)  # noqa: B904
        sync = getattr(os, "sync", None)
        if sync is not None:
            try:
                sync()
            except OSError as e:
                raise self._fail("sync", name, e)  # noqa: B904

    def _exists_path(self, path):
        # type: (str) -> bool
        try:
            os.stat(path)
        except OSError as e:
            if errno_of(e) == errno.ENOENT:
                return False
            raise
        return True

    def exists(self, name):
        # type: (str) -> bool
        path = self._path(name)
        try:
            return self._exists_path(path)
        except OSError as e:
            raise self._fail("stat", name, e)  # noqa: B904

    def delete(self, name):
        # type: (str) -> None
        path = self._path(name)
        try:
            os.remove(path)
        except OSError as e:
            if errno_of(e) != errno.ENOENT:
                raise self._fail("remove", name, e)  # noqa: B904
