"""A first run says, in one line, that it compiles the package's kernels; a run on a filled cache says nothing."""

import os
import subprocess
import sys

from sb3_cosyne.core.kernels import COMPILE_NOTICE

# Two of the package's kernels (each a cache miss on an empty cache), then a function of the user's own.
SCRIPT = """
import numpy as np
from numba import njit

from sb3_cosyne.core import kernels

kernels.rank(np.array([0.5, 2.0, 1.0]))
kernels.mark_all(2, np.array([False, True, False]))
njit(lambda x: x + 1)(1)
"""


def run(cache_dir: str) -> list[str]:
    """The lines a fresh process running ``SCRIPT`` writes to stderr, with Numba's cache in ``cache_dir``."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return proc.stderr.splitlines()


def test_the_notice_is_printed_once_on_an_empty_cache_and_not_on_a_filled_one(tmp_path):
    cold = run(str(tmp_path))
    assert cold.count(COMPILE_NOTICE) == 1
    warm = run(str(tmp_path))
    assert COMPILE_NOTICE not in warm  # the kernels load from the cache, the user's function is none of ours
