"""Developer tooling (not flown): MicroPython VM runner, build helpers."""
