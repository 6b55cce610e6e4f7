"""hal/sim/session.py's measure of the simulator's heap (issue 11: the benches count the
flight's heap alone): the simulated flash's blobs, which the board keeps in flash, are
measured on the interpreter itself (CPython has no heap figures: skipped there)."""

import gc

from hal.sim import session
from hal.sim.board import make_board


def test_sim_bytes_counts_what_the_simulated_flash_holds():
    if not hasattr(gc, "mem_alloc"):  # CPython
        return
    board = make_board()
    n0 = session.sim_bytes(board)
    assert n0 == 0  # nothing written yet: the empty dict is the baseline's
    board.storage.write("a", bytes(1000))
    n1 = session.sim_bytes(board)
    assert 1000 < n1 - n0 < 1200  # the blob (its header and octets) and the dict's table
    board.storage.write("a", bytes(10))  # replaced: the old blob is garbage, not counted
    n2 = session.sim_bytes(board)
    assert 0 < n2 - n0 < 200
    assert session.sim_bytes(board) == n2  # measuring leaves nothing behind


def test_a_read_is_a_copy_the_flash_keeps_its_own():
    board = make_board()
    board.storage.write("k", b"\x01\x02")
    r = board.storage.read("k")
    assert r == b"\x01\x02" and r is not board.storage.blobs["k"]
