"""rayenvs.validation: the one set of input checks every layer uses, and its two message forms."""

import numpy as np
import pytest

from rayenvs.validation import CLIError, check_int, check_seed, is_int


def test_is_int_takes_python_and_numpy_integers_but_not_bools_or_floats() -> None:
    assert is_int(3) and is_int(np.int64(3)) and is_int(np.uint8(0))
    assert not is_int(True) and not is_int(3.0) and not is_int("3") and not is_int(None)


def test_check_int_returns_the_value_and_names_the_bad_value_and_range() -> None:
    assert check_int("n", np.int32(4)) == 4 and type(check_int("n", np.int32(4))) is int
    assert check_int("n", None, allow_none=True) is None
    with pytest.raises(ValueError, match=r"^num_envs=0 must be an integer >= 1$"):
        check_int("num_envs", 0)
    with pytest.raises(ValueError, match=r"^eval_freq=0 must be an integer >= 1 or None$"):
        check_int("eval_freq", 0, allow_none=True)
    with pytest.raises(ValueError, match=r"^k=9 must be an integer in \[0, 8\]$"):
        check_int("k", 9, lo=0, hi=8)
    with pytest.raises(ValueError, match=r"^n=None must be an integer >= 1$"):
        check_int("n", None)
    with pytest.raises(ValueError, match=r"^--metrics-every -1 must be >= 0 \(0 turns it off\)$"):
        check_int("--metrics-every", -1, lo=0, hint=" (0 turns it off)")


def test_check_seed_and_cli_error() -> None:
    assert check_seed(0) == 0
    with pytest.raises(ValueError, match=r"^seed=-1 must be an integer >= 0$"):
        check_seed(-1)
    with pytest.raises(ValueError, match=r"^seed=True must be an integer >= 0$"):
        check_seed(True)
    assert not issubclass(CLIError, ValueError)  # the console script reports both, as one line each
