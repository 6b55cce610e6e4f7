"""`make typecheck`: mypy over flight/ and hal/ against the MicroPython 1.27 stubs.

The stub packages (installed into .typings/ by `make setup`) carry a few errors of their
own (overloads, names their private helpers use); those are reported by mypy against the
stub files and are not ours, so they are filtered out here.  Any error in our code fails.
"""

import subprocess
import sys


def main():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--show-error-codes"],
        capture_output=True, text=True,
    )
    ours = []
    stub_errors = 0
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith(".typings/"):
            stub_errors += 1
            continue
        if line.strip():
            ours.append(line)
    for line in ours:
        print(line)
    errors = [ln for ln in ours if ": error:" in ln]
    print("typecheck: %d error(s) in flight/ and hal/ (%d stub-internal message(s) ignored)"
          % (len(errors), stub_errors))
    if errors or (proc.returncode not in (0, 1)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
