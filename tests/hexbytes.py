"""Shared by the codec unit tests (tests/test_codecs_*.py): ``H``, hex text to bytes."""


H = bytes.fromhex
