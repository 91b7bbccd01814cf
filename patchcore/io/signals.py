"""Stop requests from the operating system, as flags a training loop polls."""

import signal
from typing import Callable


def sigterm_flag() -> Callable[[], bool]:
    """Catch SIGTERM (Slurm's time limit, ``kill``) from now on and return ``should_stop()``,
    true once it has arrived: the loop finishes its step, saves a checkpoint and returns."""
    arrived = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: arrived.__setitem__("flag", True))
    return lambda: arrived["flag"]
