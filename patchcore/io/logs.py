"""Logging set-up for workflow scripts: everything goes to the rule's log file."""

from typing import Union
from pathlib import Path
import logging
import sys


def script_logger(log_path: Union[str, Path], name: str = "patchcore") -> logging.Logger:
    """A logger writing to ``log_path`` (the rule's ``log:``), also capturing warnings.

    Standard error is redirected to the same file, so progress bars and tracebacks land there.
    """
    handle = open(log_path, "a", buffering=1)
    sys.stderr = handle
    logging.basicConfig(stream=handle, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.captureWarnings(True)
    return logging.getLogger(name)
