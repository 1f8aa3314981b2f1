"""Command-line options a new user trips on (issue 16 items 8 and 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from verilog_env import cli

DEMO = Path(cli.__file__).parent / "data" / "demo"


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--cycles", "-5", "cycles must be a positive integer, got -5"),
    ("--cycles", "0", "cycles must be a positive integer, got 0"),
    ("--timeout", "0", "expected a positive number of seconds"),
    ("--formal-budget", "-1", "expected a positive number of seconds"),
])
def test_bad_checker_numbers_are_one_line_errors(capsys, flag, value, message):
    argv = ["check", str(DEMO / "golden.v"), str(DEMO / "correct.v"), flag, value]
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # argparse's own type errors
        code = exit_.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err and "internal_error" not in err
    assert message in err.splitlines()[-1]  # one line says what is wrong (argparse prints its usage above)


def test_serve_does_not_default_to_vllm_serves_port():
    args = cli.build_parser().parse_args(["serve"])
    assert args.port == 5000 and args.port != 8000
