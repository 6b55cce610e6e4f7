"""The APT's SEARCH/ACQUIRE/LOST window is held only in those states (issue 11: the 5 kB
strip buffer idle in TRACK): allocated when such a state begins (flight/apt_search.py
``Search.window``, through ``flight.lazy.buffer``), dropped in TRACK and IDLE, so a
tracking APT holds none of it; the dark calibration's minimum only while it runs.  The
path TRACK → LOST → SEARCH → ACQUIRE → TRACK asks for it again and works on every
interpreter, the fixed heaps of the unix port and the Cortex-M7 image included.  A
window that finds no block is its own event (BUFFER_ALLOC_FAILED), counted; the APT
skips the frame and asks again at the next tick.

Plain test functions: CPython, the MicroPython VM, the unix port and the M7 image."""

from flight import apt as A
from flight import lazy
from flight.lazy import EV_BUFFER_ALLOC_FAILED

from kit import rig

STRIP = 160 * 16  # binned columns x strip rows (flight/apt_search.py)
WINDOW = A.ACQ_WIN * A.ACQ_WIN


def _track(params=None):
    r = rig("apt", err=(0.002, 0.001), params=params)
    r.until(A.TRACK, 80)
    return r


def _no_heap(typecode, init):
    raise MemoryError("injected: no block")


def test_a_tracking_apt_holds_no_search_window_nor_dark_frame():
    r = _track()
    r.tick(20)
    s = r.apt.search
    assert s.buf is None  # the 5 kB strip buffer (ACQUIRE's window) is not held
    assert s.dark_min is None  # the dark calibration's minimum neither
    assert s.hot_pixels == len(s.hot) // 2  # what TRACK uses of SEARCH is kept


def test_track_lost_search_track_gets_its_window_back_each_time():
    r = _track({"apt_lost_timeout_s": 0.5})
    s = r.apt.search
    r.cam.beacon = False
    r.until(A.LOST, 30)
    assert s.buf is not None and len(s.buf) >= WINDOW  # LOST watches a 32 px window
    r.until(A.SEARCH, 60)
    assert s.buf is not None and len(s.buf) >= STRIP  # the strip, grown for SEARCH
    r.cam.beacon = True
    r.until(A.ACQUIRE, 20)
    assert s.buf is not None and len(s.buf) >= WINDOW  # ACQUIRE reuses the strip
    r.until(A.TRACK, 80)
    assert s.buf is None
    assert not r.named(EV_BUFFER_ALLOC_FAILED)
    assert r.apt.acquisitions == 2 and r.apt.losses == 1


def test_no_heap_for_the_window_is_its_own_event_and_the_apt_recovers():
    r = _track()
    s = r.apt.search
    n = lazy.alloc_failures[0]
    real = lazy.array
    lazy.array = _no_heap  # the block for the window is not there
    try:
        r.cam.beacon = False
        r.until(A.LOST, 30)  # entered all the same: no exception, no task fault
        assert s.buf is None
        r.tick(5)  # each tick asks again; reported on the 1st, 101st, ... failure
        frames = r.apt.frames
        r.tick(3)
        assert r.apt.frames == frames  # no window: no frame read, nothing decided
    finally:
        lazy.array = real
    assert lazy.alloc_failures[0] == n + 9  # entering LOST + 8 ticks
    assert r.named(EV_BUFFER_ALLOC_FAILED) == ["apt window"]
    assert r.apt.state == A.LOST
    r.cam.beacon = True
    r.until(A.ACQUIRE, 3)  # the heap is back: the window comes at the next tick
    r.until(A.TRACK, 80)
    assert s.buf is None
