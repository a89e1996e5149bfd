"""Everything a later step needs, loaded from a records file: the records, the generator and the
classifier they were made with (found through the paths and fingerprints recorded in the file),
and the selected attributes. `stylex explain`, `stylex evaluate` and notebooks start here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from stylex.attfind.editor import Editor
from stylex.attfind.records import Records, load_records
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

    def editor(self, batch: int = 64) -> Editor:
        return Editor(self.G, self.classifier, self.records, self.device, batch)


def _existing(recorded: str, override: str | Path | None, what: str, flag: str, records_path: Path) -> Path:
    path = Path(override) if override else Path(recorded or "")
    if not recorded and not override:
        raise StylexError(f"records file {records_path} does not say which {what} it was made with; pass {flag}")
    if not path.is_file() and not (what == "checkpoint" and path.is_dir()):
        raise StylexError(f"the {what} {path} (recorded in {records_path}) does not exist; "
                          f"pass {flag} with its new location")
    return path


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
    from stylex.classifiers import load_classifier
    from stylex.training.checkpoint import load_trained, resolve_checkpoint

    records_path = Path(records_path)
    records = load_records(records_path)
    meta = records.meta
    ckpt = resolve_checkpoint(_existing(meta.get("checkpoint", ""), checkpoint, "checkpoint", "--checkpoint",
                                        records_path))
    if meta.get("checkpoint_sha256") and file_sha256(ckpt) != meta["checkpoint_sha256"]:
        raise StylexError(f"checkpoint {ckpt} is not the one {records_path} was made with (its sha256 differs); "
                          "use the original checkpoint, or re-run `stylex attfind` with this one")
    trained = load_trained(ckpt, device)
    clf_path = _existing(meta.get("classifier", ""), classifier, "classifier", "--classifier", records_path)
    clf = load_classifier(clf_path, device, num_classes=records.num_classes, resolution=trained.G.resolution)
    if meta.get("classifier_fingerprint") and clf.fingerprint != meta["classifier_fingerprint"]:
        raise StylexError(f"classifier {clf_path} is not the one {records_path} was made with (its weights "
                          "differ); use the original classifier, or re-run `stylex attfind` with this one")
    selection = load_selection(attributes or attributes_path(records_path)) if need_selection else None
    return AttFindContext(records, trained.G, clf.eval(), torch.device(device), selection)
