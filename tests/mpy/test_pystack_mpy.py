"""The firmware's Python stack (board/cmodules/vector_pystack, docs/firmware.md "The Python
stack"): on the Cortex-M7 image (``sys.platform == "qemu"``) a call's state is not a heap
object.

Without it every call of a bytecode function whose state is over 11 words allocated that
state on the GC heap and freed it on return: a first-fit scan from the lowest free block,
1.5 k instructions a call on a fresh heap and 42 k after 200 small allocations (stop 40,
measured on the image).  Here: a call allocates nothing (``micropython.mem_total``, the
octets ever allocated, stays put), the region's high-water mark moves with the depth of
the calls, and a runaway recursion is a RuntimeError, not a crash.  The other
interpreters (CPython, the WebAssembly VM, the unix port) have no such region: there the
tests check that the module is absent, which is what the bench's reader expects
(tools/target_bench_parts.py pystack_figures).
"""

import sys

FIRMWARE = sys.platform == "qemu"


def _wide(a):
    # 14 locals: a state of ~20 words, over the 11 a call may keep on the C stack
    b = c = d = e = f = g = h = i = j = k = l_ = m = n = a
    return a + b + c + d + e + f + g + h + i + j + k + l_ + m + n


def _deep(n):
    if n <= 0:
        return 0
    return 1 + _deep(n - 1)


def test_the_region_is_there_only_on_the_firmware():
    try:
        import vector_pystack  # type: ignore[import-not-found]
    except ImportError:
        assert not FIRMWARE, "the firmware image lacks its Python stack"
        return
    assert FIRMWARE
    import micropython

    assert vector_pystack.size() == 8192
    assert 0 < micropython.pystack_use() <= vector_pystack.peak() <= vector_pystack.size()


def test_a_call_allocates_nothing_on_the_firmware():
    if not FIRMWARE:
        return  # (the other interpreters put a wide call's state on their heap)
    import micropython

    _wide(1)
    t0 = micropython.mem_total()
    for _ in range(20):
        _wide(2)
    assert micropython.mem_total() == t0


def test_the_high_water_mark_follows_the_depth_and_overflow_is_an_error():
    if not FIRMWARE:
        return
    import vector_pystack  # type: ignore[import-not-found]

    before = vector_pystack.peak()
    assert _deep(25) == 25
    deeper = vector_pystack.peak()
    assert deeper > before  # 25 frames deeper than this module's tests went before
    try:  # past the C stack's limit or the region's, whichever comes first
        _deep(100000)
    except RuntimeError:
        pass
    else:
        raise AssertionError("a runaway recursion did not raise")
    assert vector_pystack.peak() > deeper
    assert _deep(10) == 10  # the stack is usable after it
