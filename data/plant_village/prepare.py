#!/usr/bin/env python3
"""Prepare plant_village into data/plant_village/prepared/ (downloads, if any, go to data/plant_village/downloads/).

Same as `stylex prepare plant_village --out data/plant_village/prepared ARGS`; extra arguments are passed on,
e.g. --archive FILE, --resolution N, --out DIR. See README.md beside this script.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run from a clone even when stylex is not installed

from stylex.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["prepare", "plant_village", "--out", str(HERE / "prepared"), *sys.argv[1:]]))
