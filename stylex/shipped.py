"""Where the shipped models are (models/README.md of the source repository).

The models are not part of the Python package (a wheel holds only `stylex/`), so they are looked
for, in this order:

1. an explicit path (a model folder such as `models/world-smile`, or a folder of model folders),
2. the environment variable STYLEX_MODELS (likewise),
3. the source checkout's `models/` folder beside the `stylex` package (a clone, or an editable install).

A shipped model folder is recognised by its AttFind records, `attfind/records.h5`.
"""

from __future__ import annotations

import os
from pathlib import Path

from stylex.errors import StylexError

ENV_VAR = "STYLEX_MODELS"
DEMO_MODEL = "world-smile"  # the demo model: classifier, inference-only StylEx checkpoint, AttFind result
CHECKOUT_MODELS = Path(__file__).resolve().parents[1] / "models"  # exists in a source checkout only
MARKER = Path("attfind") / "records.h5"


def _candidates(name: str, path: str | os.PathLike | None) -> list[tuple[str, Path]]:
    """(where it came from, folder) in lookup order; each given folder may be the model itself or hold it."""
    places = [("the given path", Path(path))] if path is not None else []
    if os.environ.get(ENV_VAR):
        places.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR])))
    places.append(("the source checkout's models/ folder", CHECKOUT_MODELS))
    return [(origin, place) for origin, folder in places for place in (folder, folder / name)]


def find_shipped(name: str = DEMO_MODEL, path: str | os.PathLike | None = None) -> Path:
    """The folder of shipped model `name` (see the module docstring for the lookup order).

    With an explicit `path` only that path is tried (a wrong path is an error, not a silent
    fallback). Raises StylexError naming every place it looked.
    """
    candidates = _candidates(name, path)
    if path is not None:
        candidates = [c for c in candidates if c[0] == "the given path"]
    for _, folder in candidates:
        if (folder / MARKER).is_file():
            return folder
    looked = "; ".join(f"{folder} ({origin})" for origin, folder in candidates)
    raise StylexError(
        f"the shipped model {name} was not found (no {MARKER.as_posix()} in: {looked}). It is in the source "
        f"repository's models/ folder: pass the folder of a copy, or set {ENV_VAR} to the folder holding it"
    )


def shipped_dir(name: str = DEMO_MODEL) -> Path:
    """The shipped model's folder if it is found ($STYLEX_MODELS, then the checkout), else where a
    source checkout keeps it (for paths computed before the files are needed)."""
    try:
        return find_shipped(name)
    except StylexError:
        return CHECKOUT_MODELS / name
