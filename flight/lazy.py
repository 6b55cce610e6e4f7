"""Code a pass does not run, imported when it is needed and released after (issue 11).

Frozen into the firmware a module's bytecode stays in flash, but importing it builds its
function objects, classes and globals on the heap (~40 B a function) and they stay for
as long as the module is in ``sys.modules``.  Code that runs rarely — the FSM
calibration's fit (once a calibration), the payload wiring (once, at construction) — is
therefore loaded by :func:`load` where it is used and dropped by :func:`release` when
done (the parameter rules by :func:`done`: released where the code is frozen, kept where
a reload would load a file again): the heap it held is free again at the next
collection.
Loading a frozen module again costs only its import (no file system, no compile).

A MemoryError while loading is its own event, ``MODULE_LOAD_FAILED`` (the core's
0x05: the module's name as the text, no argument to build), counted in
:data:`failures`, and :class:`LoadFailed` (preallocated, raised without the heap) tells
the caller, which degrades as its docstring says; nothing else is caught here.

Buffers only some phases use (the APT's SEARCH strip, its ACQUIRE/LOST window) are
allocated by :func:`buffer` when the phase begins and dropped when it ends: a MemoryError
there (a fixed heap too full or too fragmented for the block) is its own event too,
``BUFFER_ALLOC_FAILED`` (0x06, the buffer's name as the text), counted in
:data:`alloc_failures`; the caller gets None and tries again at its next run (the
scheduler's idle-time collection makes room meanwhile).
"""

import sys
from array import array

from hal.compat import const

EV_MODULE_LOAD_FAILED = const(0x05)  # declared with the core's events (flight/app.py)
EV_BUFFER_ALLOC_FAILED = const(0x06)  # (ditto)
_REPORT_EVERY = const(100)  # a failing buffer is reported on its 1st, 101st, ... try

failures = [0]  # loads that failed for lack of heap (a list: updated in place)
alloc_failures = [0]  # buffers that found no block (ditto)


class LoadFailed(Exception):
    """A lazily loaded module could not be imported: the heap is exhausted."""


_FAILED = LoadFailed("module load failed: heap exhausted")  # raised without allocating


def load(name, emit=None):
    """The module ``name`` ("flight.x"), imported now if it is not loaded.  On a
    MemoryError: ``emit(EV_MODULE_LOAD_FAILED, None, name)``, counted, LoadFailed."""
    m = sys.modules.get(name)
    if m is not None:
        return m
    try:
        __import__(name)
        return sys.modules[name]
    except MemoryError:
        failures[0] += 1
        sys.modules.pop(name, None)  # a half-built module must not be found next time
        if emit is not None:
            emit(EV_MODULE_LOAD_FAILED, None, name)
        raise _FAILED


def make(name, attr, emit, *args):
    """An object of the class ``attr`` of the module ``name``, loaded (:func:`load`) for
    it: ``attr(*args)``.  A MemoryError while building it is a failed load like one
    while importing (counted, MODULE_LOAD_FAILED, the module released, LoadFailed):
    the object is the code's state, useless without it."""
    m = load(name, emit)
    try:
        return getattr(m, attr)(*args)
    except MemoryError:
        failures[0] += 1
        release(name)
        if emit is not None:
            emit(EV_MODULE_LOAD_FAILED, None, name)
        raise _FAILED


def frozen(name):
    """The loaded module ``name`` has no file behind it: its code is frozen in the
    firmware (loading it again is only its import, the code stays in flash)."""
    m = sys.modules.get(name)
    f = getattr(m, "__file__", None) if m is not None else None
    if f is not None:
        try:
            import os

            os.stat(f)
            return False  # a file
        except (OSError, ImportError):  # no such file, or no file system: frozen
            pass
    return True


def done(name):
    """After a use of ``name``: released (:func:`release`) where its code is frozen in
    the firmware (:func:`frozen`); held where it was loaded from a file (the VM, the
    unix port, CPython), whose reload would put its code on the heap again."""
    if name in sys.modules and frozen(name):
        release(name)


def release(name):
    """Forget the module ``name``: its functions, classes and globals are garbage once
    nothing else refers to them (the caller drops its own references)."""
    if sys.modules.pop(name, None) is None:
        return
    pkg, _, leaf = name.rpartition(".")
    parent = sys.modules.get(pkg)
    if parent is not None and getattr(parent, leaf, None) is not None:
        try:
            delattr(parent, leaf)
        except (AttributeError, TypeError):  # a built-in package: nothing held there
            pass


def buffer(n, name, emit=None):
    """A zeroed ``array('H')`` of ``n`` items, or None where the heap has no block for
    it: counted, and on the 1st, 101st, ... failure ``emit(EV_BUFFER_ALLOC_FAILED, None,
    name)`` (nothing allocated: ``name`` is a constant)."""
    try:
        # (from bytes: [0] * n would be a transient list 4-8x the array's size)
        return array("H", bytes(2 * n))
    except MemoryError:
        k = alloc_failures[0] + 1
        alloc_failures[0] = k
        if emit is not None and k % _REPORT_EVERY == 1:
            emit(EV_BUFFER_ALLOC_FAILED, None, name)
        return None
