"""The long-form runner of the hostile suites: its flags (the suites themselves
run in CI in their short form)."""

from __future__ import annotations

import pytest

from ocppstation.tools.soak import main


@pytest.mark.parametrize(
    "argv", [["--kills", "0"], ["--fuzz-examples", "x"], ["--kills-201", "-1"]]
)
def test_a_bad_count_is_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert argv[0] in err and "Traceback" not in err
