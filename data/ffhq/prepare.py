#!/usr/bin/env python3
"""`stylex prepare NAME --out data/NAME/prepared ARGS`, NAME = this folder's name (see README.md beside it)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a clone even when stylex is not installed

from stylex.cli import prepare_folder_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(prepare_folder_main(__file__))
