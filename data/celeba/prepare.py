#!/usr/bin/env python3
"""Prepare celeba into data/celeba/prepared/ (downloads, if any, go to data/celeba/downloads/).

Same as `stylex prepare celeba --out data/celeba/prepared ARGS`; extra arguments are passed on,
e.g. --archive FILE, --resolution N, --out DIR. See README.md beside this script.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run from a clone even when stylex is not installed

from stylex.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["prepare", "celeba", "--out", str(HERE / "prepared"), *sys.argv[1:]]))
