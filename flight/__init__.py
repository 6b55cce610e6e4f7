"""Vector payload flight application (runs on MicroPython and CPython)."""
