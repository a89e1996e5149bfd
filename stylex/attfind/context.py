"""Everything a later step needs, loaded from a records file: the records, the generator and the
classifier they were made with (found through the paths and fingerprints recorded in the file),
and the selected attributes. `stylex explain`, `stylex evaluate` and notebooks start here.

A records file names the checkpoint and the classifier twice: relative to the records file's folder
(`checkpoint_relative`, `classifier_relative`) and as absolute paths (`checkpoint`, `classifier`).
The relative path is tried first, so a run directory (or a whole project folder) that is moved or
copied keeps working; the absolute one is the fallback. Either way the file's sha256 / the
classifier's weights fingerprint must match what the records were made with.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from stylex.attfind.editor import Editor
from stylex.attfind.records import Records, RecordsMeta, load_records
from stylex.attfind.selection import Selection, attributes_path, load_selection
from stylex.errors import StylexError


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (the checkpoint fingerprint kept in records)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class AttFindContext:
    records: Records
    G: torch.nn.Module  # the EMA generator, eval mode
    classifier: torch.nn.Module  # FrozenClassifier
    device: torch.device
    selection: Selection | None = None
    checkpoint: Path | None = None  # the checkpoint file G was loaded from

    def editor(self, batch: int = 64) -> Editor:
        return Editor(self.G, self.classifier, self.records, self.device, batch)


def recorded_paths(what: str, path: str | Path, records_path: str | Path) -> dict:
    """The records metadata entries naming `path`: `{what}` (absolute) and `{what}_relative` (relative
    to the folder of `records_path`, with forward slashes; left out where no relative path exists,
    e.g. another drive on Windows)."""
    absolute = Path(path).resolve()
    entries = {what: str(absolute)}
    try:
        entries[f"{what}_relative"] = Path(os.path.relpath(absolute, Path(records_path).resolve().parent)).as_posix()
    except ValueError:
        pass
    return entries


def _exists(path: Path, what: str) -> bool:
    return path.is_file() or (what == "checkpoint" and path.is_dir())


def _existing(meta: RecordsMeta | dict, override: str | Path | None, what: str, flag: str,
              records_path: Path) -> Path:
    """The file named by `override`, else by the records' relative path, else by their absolute one."""
    meta = RecordsMeta.from_dict(meta) if isinstance(meta, dict) else meta
    if override:
        path = Path(override)
        if not _exists(path, what):
            raise StylexError(f"{flag} {path} does not exist")
        return path
    relative, absolute = getattr(meta, f"{what}_relative"), getattr(meta, what)
    if not relative and not absolute:
        raise StylexError(f"records file {records_path} does not say which {what} it was made with; pass {flag}")
    tried = []
    if relative:
        path = Path(records_path).parent / relative
        if _exists(path, what):
            return path
        tried.append(str(path))
    if absolute:
        if _exists(Path(absolute), what):
            return Path(absolute)
        tried.append(absolute)
    raise StylexError(f"the {what} recorded in {records_path} does not exist (looked at {' and '.join(tried)}); "
                      f"pass {flag} with its new location")


def load_context(records_path: str | Path, device: str | torch.device = "cpu", checkpoint: str | Path | None = None,
                 classifier: str | Path | None = None, attributes: str | Path | None = None,
                 need_selection: bool = True) -> AttFindContext:
    """Load a records file and the objects it refers to.

    Args:
        records_path: the records file of `stylex attfind`.
        device: where the generator and classifier run.
        checkpoint, classifier: new locations of the recorded files (they must be the same files:
            their fingerprints are checked).
        attributes: the attributes file (default: attributes.json beside the records).
        need_selection: load the attributes file (an error if missing); False skips it.
    """
    from stylex.classifiers import class_names_for, load_classifier
    from stylex.training.checkpoint import load_trained, resolve_checkpoint

    records_path = Path(records_path)
    records = load_records(records_path)
    meta = records.provenance
    ckpt = resolve_checkpoint(_existing(meta, checkpoint, "checkpoint", "--checkpoint", records_path))
    if meta.checkpoint_sha256 and file_sha256(ckpt) != meta.checkpoint_sha256:
        raise StylexError(f"checkpoint {ckpt} is not the one {records_path} was made with (its sha256 differs); "
                          "use the original checkpoint, or re-run `stylex attfind` with this one")
    trained = load_trained(ckpt, device)
    clf_path = _existing(meta, classifier, "classifier", "--classifier", records_path)
    clf = load_classifier(clf_path, device, num_classes=records.num_classes, resolution=trained.G.resolution)
    if meta.classifier_fingerprint and clf.fingerprint != meta.classifier_fingerprint:
        raise StylexError(f"classifier {clf_path} is not the one {records_path} was made with (its weights "
                          "differ); use the original classifier, or re-run `stylex attfind` with this one")
    # The one class-name rule (stylex.classifiers.class_names_for), the records' names as the data's.
    records.class_names = class_names_for(clf, records.class_names, records.num_classes)
    selection = load_selection(attributes or attributes_path(records_path)) if need_selection else None
    if selection is not None and len(selection.class_names) == records.num_classes:
        selection.class_names = list(records.class_names)
    return AttFindContext(records, trained.G, clf.eval(), torch.device(device), selection, Path(ckpt))
