"""Simulated backup registers (hal.interfaces.BackupRegisters).

``MemBackup`` keeps the words in RAM (a simulated board's default: they survive the
in-process restarts of ``python -m flight``, not the process).  ``FileBackup`` keeps them in
one small file — ``python -m flight --backup-file``, by default *beside* the state
directory, never inside it, so restoring an old copy of the state directory does not
restore the words too (that is the point: docs/security.md).

File format: ``N_BACKUP_WORDS`` big-endian u32, written through a temporary file and a
rename.  A missing, short or unreadable file reads as all zeros, like a backup domain
whose battery was removed.
"""

import struct

from hal.errors import DeviceFault
from hal.interfaces import N_BACKUP_WORDS


class MemBackup:
    n_words = N_BACKUP_WORDS

    def __init__(self):
        self.name = "backup"
        self.words = [0] * N_BACKUP_WORDS
        self.fail = False  # injected fault: read/write raise DeviceFault

    def init(self):
        pass

    def _check(self, i):
        if not 0 <= i < N_BACKUP_WORDS:
            raise ValueError("backup word index")
        if self.fail:
            raise DeviceFault("backup: injected fault")

    def read(self, i):
        self._check(i)
        return self.words[i]

    def write(self, i, value):
        self._check(i)
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError("backup word value")
        self.words[i] = value
        self._stored()

    def _stored(self):
        pass


class FileBackup(MemBackup):
    """The words in the file ``path`` (read once at construction, rewritten per write)."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.name = "backup:" + path
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            raw = b""
        if len(raw) == 4 * N_BACKUP_WORDS:
            self.words = list(struct.unpack(">%dI" % N_BACKUP_WORDS, raw))

    def _stored(self):
        import os

        tmp = self.path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(struct.pack(">%dI" % N_BACKUP_WORDS, *self.words))
            os.rename(tmp, self.path)
        except OSError as e:
            raise DeviceFault("backup file %s: %r" % (self.path, e))
