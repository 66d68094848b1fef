"""The long forms of the hostile suites, from a source checkout.

    python -m ocppstation.tools.soak                      # the README's figures
    python -m ocppstation.tools.soak --fuzz-examples 500 --kills 100

Runs the suites in tests/ with their long-form settings: the fuzzing CSMS
(tests/test_fuzz.py, FUZZ_EXAMPLES batches per OCPP version) and the kill -9
soaks of 1.6 and 2.0.1 (tests/test_crash_kill9.py, tests/test_v201_kill9.py,
KILL9_KILLS kills each). Each prints its counts; the exit status is pytest's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ocppstation.tools.cliargs import int_range

positive_int = int_range(1, 10**9)

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ocppstation.tools.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--fuzz-examples", type=positive_int, default=8000)
    parser.add_argument("--kills", type=positive_int, default=800, help="for 1.6 (default: 800)")
    parser.add_argument(
        "--kills-201", type=positive_int, default=200, help="for 2.0.1 (default: 200)"
    )
    args = parser.parse_args(argv)
    if not (ROOT / "tests" / "test_fuzz.py").is_file():
        parser.error(f"the suites are in a source checkout's tests/, not found under {ROOT}")
    runs = [
        ({"FUZZ_EXAMPLES": str(args.fuzz_examples)}, "tests/test_fuzz.py"),
        ({"KILL9_KILLS": str(args.kills)}, "tests/test_crash_kill9.py"),
        ({"KILL9_KILLS": str(args.kills_201)}, "tests/test_v201_kill9.py"),
    ]
    status = 0
    for env, suite in runs:
        # --timeout=0: the suite's per-test timeout is for the short form.
        command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:randomly"]
        command += ["--timeout=0", suite]
        done = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=False)
        status = status or done.returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
