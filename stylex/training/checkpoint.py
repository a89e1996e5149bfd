"""Training checkpoints: save, load, find the latest, and load a trained model for later stages.

A checkpoint is a dict of tensors and plain Python values only (it loads with
`torch.load(weights_only=True)`), written atomically, with a format tag and version, the full
resolved run configuration, and everything needed to resume exactly: the networks, their EMA
copies, the optimizers, the loss state, the step counters and every process's RNG and
augmentation state. Files live in `<run>/checkpoints/checkpoint-<images>.pt`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from stylex.config import NetworkConfig, from_dict
from stylex.errors import StylexError
from stylex.runtime import atomic_torch_save, safe_torch_load

FORMAT = "stylex-checkpoint"
VERSION = 1
_NAME = re.compile(r"^checkpoint-(\d{12})\.pt$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's checkpoint files, oldest first (by the number of images in their name)."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest checkpoint of a run directory, or None if it has none."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def save_checkpoint(run_dir: str | Path, state: dict, keep: int = 0) -> Path:
    """Write `state` (which must hold `counters["nimg"]`) as the run's newest checkpoint.

    The write is atomic: a crash leaves the previous checkpoints intact, and the temporary file of a
    write killed part-way (SIGKILL, power loss) is removed here, at the next save. Afterwards only
    the newest `keep` checkpoints are kept (0 keeps all).
    """
    nimg = int(state["counters"]["nimg"])
    path = checkpoint_dir(run_dir) / f"checkpoint-{nimg:012d}.pt"
    if path.parent.is_dir():
        for stale in path.parent.glob(".checkpoint-*.tmp"):  # atomic_torch_save's temporary names
            stale.unlink(missing_ok=True)
    atomic_torch_save({"format": FORMAT, "version": VERSION, **state}, path)
    if keep > 0:
        for old in list_checkpoints(run_dir)[:-keep]:
            old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint file safely and check its format and version."""
    data = safe_torch_load(path, what="checkpoint")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StylexError(f"checkpoint {path} is not a stylex training checkpoint")
    if data.get("version") != VERSION:
        raise StylexError(
            f"checkpoint {path} has format version {data.get('version')}; this stylex reads version {VERSION}. "
            "Use the stylex version that wrote it."
        )
    return data


def resolve_checkpoint(run_dir_or_checkpoint: str | Path) -> Path:
    """A checkpoint file as given, or the newest checkpoint of a run directory."""
    path = Path(run_dir_or_checkpoint)
    if path.is_file():
        return path
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise StylexError(
                f"{path} holds no checkpoints (looked for {checkpoint_dir(path)}/checkpoint-*.pt); "
                "train first with `stylex train`, or point to a checkpoint file"
            )
        return found
    raise StylexError(f"{path} does not exist; give a run directory of `stylex train` or a checkpoint file")


@dataclass
class TrainedModel:
    """What later stages need from a training run: the EMA generator and encoder in eval mode, and
    where they came from."""

    G: torch.nn.Module  # EMA generator, eval mode
    E: torch.nn.Module  # EMA encoder, eval mode
    net_config: NetworkConfig
    config: dict  # the full resolved run configuration
    classifier_path: str
    classifier_fingerprint: str
    checkpoint_path: Path
    step: int  # generator optimizer steps taken
    kimg: float  # thousands of real images seen

    @property
    def conditioning(self) -> str:
        """`probs` or `logits`: how classifier outputs become the generator's condition."""
        return self.config.get("conditioning", "probs")


def load_weights(module: torch.nn.Module, state: dict, path: Path, name: str) -> None:
    """module.load_state_dict(state), a StylexError naming the checkpoint `path` and its entry `name`
    when the weights do not fit the network its configuration describes (another resolution,
    width or architecture, e.g. an edited or mixed-up file)."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[1:2] or [str(exc)]
        raise StylexError(
            f"checkpoint {path}: the {name} weights do not fit the network in its configuration (another "
            f"resolution, width or architecture: {first[0].strip()[:160]}); use the checkpoint as `stylex train` "
            "wrote it, or another checkpoint"
        ) from exc


def load_trained(run_dir_or_checkpoint: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Load the EMA generator and encoder of a run directory's newest checkpoint (or of a file)."""
    path = resolve_checkpoint(run_dir_or_checkpoint)
    data = load_checkpoint(path)
    config = data["config"]
    net_config = from_dict(NetworkConfig, config["network"])
    G, E = net_config.build_generator(), net_config.build_encoder()
    load_weights(G, data["G_ema"], path, "G_ema")
    load_weights(E, data["E_ema"], path, "E_ema")
    counters = data["counters"]
    return TrainedModel(
        G=G.to(device).eval().requires_grad_(False),
        E=E.to(device).eval().requires_grad_(False),
        net_config=net_config,
        config=config,
        classifier_path=config.get("classifier", ""),
        classifier_fingerprint=config.get("classifier_fingerprint", ""),
        checkpoint_path=path,
        step=int(counters.get("g_steps", 0)),
        kimg=int(counters["nimg"]) / 1000.0,
    )


def export_inference(run_dir_or_checkpoint: str | Path, out: str | Path) -> Path:
    """Write a small inference-only checkpoint (EMA G and E, the run configuration with the
    classifier's fingerprint, the counters) that `load_trained`, `stylex attfind` and
    `load_context` read like a full one; it cannot be resumed or used with --discriminator-score."""
    data = load_checkpoint(resolve_checkpoint(run_dir_or_checkpoint))
    keep = {k: data[k] for k in ("format", "version", "config", "G_ema", "E_ema")}
    keep["counters"] = {k: data["counters"][k] for k in ("nimg", "g_steps") if k in data["counters"]}
    atomic_torch_save(keep, out)
    return Path(out)
