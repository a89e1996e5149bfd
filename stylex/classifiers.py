"""Classifiers: builders, the self-describing classifier file, foreign models, the frozen wrapper.

StylEx explains a classifier C; every later stage sees C only through `FrozenClassifier`, which
takes [-1, 1] images at the data resolution and returns logits. It owns resizing (224 px for
ImageNet backbones) and normalization, stays in eval mode with frozen parameters while gradients
still flow to its input, and carries a sha256 fingerprint of its weights so runs record what they
explain.

Accepted classifier files (`load_classifier`):
- a stylex classifier file (`save_classifier` / `stylex train-classifier`): a dict of plain values
  and tensors (arch, num_classes, class names, input size, normalization, state dict) that loads
  with `torch.load(weights_only=True)`;
- TorchScript (`torch.jit.save(torch.jit.script(model), "model.pt")`);
- an ExportedProgram (`torch.export.save(torch.export.export(model.eval(), (x,),
  dynamic_shapes=({0: torch.export.Dim("batch")},)), "model.pt2")` - the current PyTorch way).
Foreign models receive [-1, 1] images at the data resolution (or at the example input size of an
ExportedProgram) and must return logits; the number of classes comes from a probe forward pass. A
JSON sidecar beside the file (`model.json`) overrides: {"input_size": 224, "normalization":
"imagenet" | "none" | {"mean": [..], "std": [..]} (applied to [0, 1] images), "class_names": [..]}.
Their intermediate features are unknown: `features()` falls back to the logits and
`feature_maps()` raises a StylexError (use another reconstruction loss).
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import time
import warnings
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stylex.errors import StylexError
from stylex.runtime import atomic_torch_save, map_batches, safe_torch_load

FORMAT = "stylex-classifier"
FORMAT_VERSION = 1
ARCHS = ("small-cnn", "resnet18", "mobilenet_v2")
IMAGENET_NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
IMAGENET_INPUT_SIZE = 224


class StagedNet(nn.Module):
    """A CNN seen as stages (each yields a feature map), global average pooling and a linear head.

    One shape for every built architecture, so the wrapper can return logits, pooled features
    (for Fréchet distances) and intermediate maps (for a classifier perceptual loss) alike.
    """

    def __init__(self, stages: list[nn.Module], head: nn.Module):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.head = head

    def maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(self.maps(x)[-1], 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(x))


def _small_cnn(num_classes: int, width: int = 32, blocks: int = 3) -> StagedNet:
    """Small CNN for small images on CPU: `blocks` x (3x3 conv, 3x3 stride-2 conv), BN + ReLU."""
    stages, c_in = [], 3
    for i in range(blocks):
        c = width * 2**i
        stages.append(nn.Sequential(
            nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
        ))
        c_in = c
    return StagedNet(stages, nn.Linear(c_in, num_classes))


def _imagenet_state_dict(arch: str) -> dict:
    """ImageNet weights of a torchvision backbone: from the torch hub cache, else downloaded,
    else a StylexError that says which file to put where."""
    import torchvision.models as tvm

    weights = {"resnet18": tvm.ResNet18_Weights, "mobilenet_v2": tvm.MobileNet_V2_Weights}[arch].IMAGENET1K_V1
    url = weights.url
    target = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if target.is_file():
        return torch.load(target, map_location="cpu", weights_only=True)
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=True)
    except Exception as exc:
        raise StylexError(
            f"--pretrained {arch}: ImageNet weights are not available ({type(exc).__name__}); "
            f"download {url} on a machine with internet and put it at {target} "
            "(or set TORCH_HOME), or train without --pretrained"
        ) from exc


def build_classifier(arch: str, num_classes: int, pretrained: bool = False, width: int = 32) -> StagedNet:
    """A fresh classifier network.

    arch: small-cnn (own, for small images), resnet18 or mobilenet_v2 (torchvision).
    num_classes: size of the output (logits).
    pretrained: start torchvision backbones from ImageNet weights (not for small-cnn).
    width: channels of the first small-cnn block (doubles per block); ignored by the others.
    """
    if num_classes < 2:
        raise StylexError(f"a classifier needs at least 2 classes, got {num_classes}")
    if arch == "small-cnn":
        if pretrained:
            raise StylexError("--pretrained: small-cnn has no pretrained weights; drop --pretrained")
        return _small_cnn(num_classes, width)
    import torchvision.models as tvm

    if arch == "resnet18":
        m = tvm.resnet18()
        if pretrained:
            m.load_state_dict(_imagenet_state_dict(arch))
        stem = nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool)
        return StagedNet([stem, m.layer1, m.layer2, m.layer3, m.layer4], nn.Linear(m.fc.in_features, num_classes))
    if arch == "mobilenet_v2":
        m = tvm.mobilenet_v2()
        if pretrained:
            m.load_state_dict(_imagenet_state_dict(arch))
        f = m.features
        stages = [f[0:2], f[2:4], f[4:7], f[7:14], f[14:]]
        return StagedNet(stages, nn.Sequential(nn.Dropout(0.2), nn.Linear(m.last_channel, num_classes)))
    raise StylexError(f"--arch {arch}: unknown architecture; choose one of {', '.join(ARCHS)}")


def default_input_size(arch: str, resolution: int) -> int:
    """Size the network sees: 224 for ImageNet backbones, the data resolution for small-cnn."""
    return resolution if arch == "small-cnn" else IMAGENET_INPUT_SIZE


def default_normalization(arch: str) -> dict | None:
    """ImageNet mean/std for torchvision backbones; none (raw [-1, 1]) for small-cnn."""
    return None if arch == "small-cnn" else dict(IMAGENET_NORMALIZATION)


def weights_fingerprint(module: nn.Module) -> str:
    """sha256 (hex) of a module's parameters and buffers: names, dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class Preprocess(nn.Module):
    """[-1, 1] images -> what the network expects: resized to `input_size` (None: unchanged) and
    normalized with `normalization` (None: unchanged; else mean/std applied to [0, 1] images)."""

    def __init__(self, input_size: int | None, normalization: dict | None):
        super().__init__()
        self.input_size = input_size
        norm = normalization or {"mean": [0.5] * 3, "std": [0.5] * 3}  # identity on [-1, 1] input
        self.register_buffer("mean", torch.tensor(norm["mean"], dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(norm["std"], dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise StylexError(f"classifier input must be [N, 3, H, W] images, got shape {tuple(images.shape)}")
        size = self.input_size
        if size is not None and tuple(images.shape[-2:]) != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                                   antialias=size < images.shape[-1])
        return ((images + 1) * 0.5 - self.mean) / self.std


class FrozenClassifier(nn.Module):
    """A classifier as later stages use it: [-1, 1] images at data resolution in, logits out.

    Attributes: num_classes, class_names, class_names_given (False where the file named no classes
    and class_names are only the indices "0", "1", ...; see `class_names_for`), fingerprint (sha256
    of the weights), path, kind ('stylex' | 'torchscript' | 'exported'), input_size (None: images
    pass at their own size),
    normalization (None: raw [-1, 1]; else mean/std applied to [0, 1] images), has_features,
    info (training metadata of stylex files).
    Always in eval mode with frozen parameters; gradients flow to the input images.
    """

    def __init__(self, net: nn.Module, *, class_names: list[str], input_size: int | None,
                 normalization: dict | None, kind: str = "stylex", path: str | Path | None = None,
                 info: dict | None = None, class_names_given: bool = True):
        super().__init__()
        self.net = net
        self.kind = kind
        self.path = str(path) if path is not None else None
        self.class_names = list(class_names)
        self.class_names_given = bool(class_names_given)
        self.num_classes = len(self.class_names)
        self.input_size = input_size
        self.info = info or {}
        self.has_features = isinstance(net, StagedNet)
        self.normalization = normalization
        self.prep = Preprocess(input_size, normalization)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.fingerprint = weights_fingerprint(net)
        self.train(False)

    def train(self, mode: bool = True) -> FrozenClassifier:
        """Stays in eval mode whatever a parent module asks (its BatchNorm statistics are fixed)."""
        self.training = False
        self.prep.eval()
        if self.kind != "exported":  # an ExportedProgram froze its mode when it was exported
            self.net.eval()
        return self

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Resize to the network's input size and normalize (differentiable)."""
        return self.prep(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.preprocess(images))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate (pooled) features [N, F]; for foreign models, the logits [N, K]."""
        x = self.preprocess(images)
        return self.net.pooled(x) if self.has_features else self.net(x)

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Feature map of every stage, shallow to deep (for a classifier perceptual loss)."""
        if not self.has_features:
            raise StylexError(
                f"classifier {self.path} is a {self.kind} model: its intermediate feature maps are "
                "unknown; use a reconstruction loss that does not need them (e.g. lpips or none)"
            )
        return self.net.maps(self.preprocess(images))

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Predicted class indices, batched, without gradients."""
        device = self.prep.mean.device
        return map_batches(lambda x: self(x.to(device)).argmax(1).cpu(), images, batch_size)


def save_classifier(path: str | Path, net: StagedNet, *, arch: str, class_names: list[str],
                    input_size: int, normalization: dict | None, arch_kwargs: dict | None = None,
                    info: dict | None = None) -> None:
    """Write a self-describing classifier file (atomic; loads with weights_only=True).

    arch / arch_kwargs: how to rebuild the network (`build_classifier(arch, K, **arch_kwargs)`).
    class_names: one name per output.
    input_size: the square size the network sees (the wrapper resizes to it).
    normalization: None (raw [-1, 1]) or {"mean", "std"} applied to [0, 1] images.
    info: plain JSON-like metadata (data spec, accuracy, ...).
    """
    atomic_torch_save({
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "arch": arch,
        "arch_kwargs": dict(arch_kwargs or {}),
        "num_classes": len(class_names),
        "class_names": list(class_names),
        "input_size": int(input_size),
        "normalization": normalization,
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "info": info or {},
    }, path)


def _file_kind(path: Path) -> str:
    """'exported', 'torchscript' or 'stylex' from the zip archive's entries."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return "stylex"  # let safe_torch_load report what is wrong
    if any(n.endswith("/archive_format") for n in names) or path.suffix == ".pt2":
        return "exported"
    if any("/code/" in n for n in names) or any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    return "stylex"


def _read_sidecar(path: Path) -> dict:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text())
    except ValueError as exc:
        raise StylexError(f"classifier sidecar {sidecar} is not valid JSON ({exc})") from exc
    unknown = set(data) - {"input_size", "normalization", "class_names"}
    if unknown:
        raise StylexError(f"classifier sidecar {sidecar}: unknown keys {sorted(unknown)}; "
                          "allowed: input_size, normalization, class_names")
    norm = data.get("normalization", "none")
    if norm == "imagenet":
        data["normalization"] = dict(IMAGENET_NORMALIZATION)
    elif norm in ("none", None):
        data["normalization"] = None
    elif not (isinstance(norm, dict) and len(norm.get("mean", [])) == 3 and len(norm.get("std", [])) == 3):
        raise StylexError(f"classifier sidecar {sidecar}: normalization must be 'imagenet', 'none' or "
                          '{"mean": [r, g, b], "std": [r, g, b]}')
    return data


_TORCHSCRIPT_NOTED: set[str] = set()  # files already noted in this process
TORCHSCRIPT_NOTE = (
    "note: classifier {path} is TorchScript, which PyTorch has deprecated (torch.jit.load will go away in a "
    "future release). It works for now; to be ready, save the model as an ExportedProgram instead: "
    "torch.export.save(torch.export.export(model.eval(), (x,), dynamic_shapes=({{0: torch.export.Dim('batch')}},)), "
    "'model.pt2') with x a [2, 3, R, R] example batch, and pass the .pt2 file as --classifier."
)


def _note_torchscript(path: Path) -> None:
    """Say once per file and process, in our words, that TorchScript is deprecated and what to use
    instead (a command that loads its classifier twice says it once)."""
    key = str(Path(path).resolve())
    if key not in _TORCHSCRIPT_NOTED:
        _TORCHSCRIPT_NOTED.add(key)
        print(TORCHSCRIPT_NOTE.format(path=path), file=sys.stderr)


def _load_foreign(path: Path, kind: str, device, resolution: int | None) -> FrozenClassifier:
    """TorchScript or ExportedProgram: sidecar settings, input size and a probe for the classes."""
    side = _read_sidecar(path)
    example_size = None
    try:
        if kind == "torchscript":
            with warnings.catch_warnings():  # torch's FutureWarning; ours, once, is below
                warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=FutureWarning)
                net = torch.jit.load(str(path), map_location=device)
            _note_torchscript(path)
        else:
            program = torch.export.load(str(path))
            example = program.example_inputs[0][0] if program.example_inputs else None
            if example is not None and example.dim() == 4 and example.shape[-1] == example.shape[-2]:
                example_size = int(example.shape[-1])
            net = program.module().to(device)
    except Exception as exc:
        raise StylexError(f"classifier {path} could not be loaded as {kind} "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
    input_size = side.get("input_size") or example_size
    probe_size = input_size or resolution or 32
    try:
        with torch.no_grad():
            out = net(torch.zeros(2, 3, probe_size, probe_size, device=device))
    except Exception as exc:
        raise StylexError(
            f"classifier {path}: a probe forward pass on [2, 3, {probe_size}, {probe_size}] images failed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); give the input size in "
            f"{path.with_suffix('.json')} ({{\"input_size\": N}}), and export with a dynamic batch dimension"
        ) from exc
    if not (isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[0] == 2):
        raise StylexError(f"classifier {path} must return logits [N, K]; it returned "
                          f"{type(out).__name__} {tuple(getattr(out, 'shape', ()))}")
    k = int(out.shape[1])
    names = side.get("class_names") or [str(i) for i in range(k)]
    if len(names) != k:
        raise StylexError(f"classifier sidecar {path.with_suffix('.json')}: {len(names)} class names "
                          f"but the model returns {k} logits")
    return FrozenClassifier(net, class_names=names, input_size=input_size,
                            normalization=side.get("normalization"), kind=kind, path=path,
                            class_names_given=bool(side.get("class_names")))


def class_names_for(classifier=None, data_names=None, num_classes: int | None = None) -> list[str]:
    """The one rule for the class names every command shows and stores: the classifier's own names
    (a stylex classifier file, or the `class_names` of a foreign model's JSON sidecar), else the
    data's names (folder names, CSV labels, a world's factor values; or the names a records file
    kept), else the indices "0", "1", ...

    classifier: a FrozenClassifier (or anything with `class_names` and `num_classes`), or None.
    data_names: the dataset's class names, or None.
    num_classes: the number of classes when neither gives it (default: the classifier's or the data's).
    Names whose count differs from the classifier's number of outputs are not used.
    """
    k = num_classes
    if k is None and classifier is not None:
        k = int(getattr(classifier, "num_classes", len(classifier.class_names)))
    if k is None and data_names:
        k = len(data_names)
    if k is None:
        raise ValueError("class_names_for needs a classifier, data names or num_classes")
    if classifier is not None and getattr(classifier, "class_names_given", True):
        names = list(getattr(classifier, "class_names", None) or [])
        if len(names) == k:
            return [str(n) for n in names]
    if data_names and len(data_names) == k:
        return [str(n) for n in data_names]
    return [str(i) for i in range(k)]


def load_classifier(path: str | Path, device="cpu", num_classes: int | None = None,
                    resolution: int | None = None) -> FrozenClassifier:
    """Load any accepted classifier file (see the module docstring) as a FrozenClassifier.

    device: where the classifier runs.
    num_classes: when given, a classifier with another number of classes is a StylexError.
    resolution: the data resolution; the probe size for foreign models without an input size.
    """
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"classifier file {path} does not exist")
    device = torch.device(device)
    kind = _file_kind(path)
    if kind == "stylex":
        ckpt = safe_torch_load(path, "classifier file")
        if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
            raise StylexError(
                f"classifier file {path} is not a stylex classifier, TorchScript or ExportedProgram file "
                "(a bare state dict cannot be used: save it with stylex.classifiers.save_classifier, or "
                "export the model with torch.export.save)"
            )
        if ckpt.get("version", 0) > FORMAT_VERSION:
            raise StylexError(f"classifier file {path} has format version {ckpt['version']}; "
                              f"this stylex reads up to {FORMAT_VERSION}; upgrade stylex")
        net = build_classifier(ckpt["arch"], ckpt["num_classes"], **ckpt.get("arch_kwargs", {}))
        try:
            net.load_state_dict(ckpt["state_dict"])
        except RuntimeError as exc:
            raise StylexError(f"classifier file {path}: weights do not fit {ckpt['arch']} ({exc})") from exc
        clf = FrozenClassifier(net, class_names=ckpt["class_names"], input_size=ckpt["input_size"],
                               normalization=ckpt["normalization"], kind="stylex", path=path,
                               info=ckpt.get("info", {}))
    else:
        clf = _load_foreign(path, kind, device, resolution)
    if num_classes is not None:
        check_num_classes(clf, num_classes)
    return clf.to(device)


def check_num_classes(clf: FrozenClassifier, num_classes: int) -> None:
    """StylexError naming the classifier file when it does not have `num_classes` outputs."""
    if clf.num_classes != num_classes:
        raise StylexError(f"classifier {clf.path} has {clf.num_classes} classes but the data has {num_classes}; "
                          "use a classifier trained on this data")


@torch.no_grad()
def check_finite_outputs(clf, images: torch.Tensor, names: list, batch_size: int = 64) -> torch.Tensor:
    """Logits of `images` (batched, on the classifier's device); a StylexError naming the classifier
    file and the images (`names[i]` for row i) where any logit is NaN or infinite, since such outputs
    would silently poison training, AttFind effects or accuracy numbers."""
    device = next((t.device for t in clf.buffers()), images.device)
    logits = map_batches(lambda x: clf(x.to(device)).float().cpu(), images, batch_size)
    check_finite_logits(clf, logits, names)
    return logits


def check_finite_logits(clf, logits: torch.Tensor, names: list) -> None:
    """StylexError naming the classifier file and the images (names[i] for row i) with NaN or
    infinite logits."""
    bad = (~torch.isfinite(logits)).any(1).nonzero().flatten().tolist()
    if bad:
        shown = ", ".join(str(names[i]) for i in bad[:3]) + (" ..." if len(bad) > 3 else "")
        raise StylexError(
            f"classifier {getattr(clf, 'path', None) or '(in memory)'} gives NaN or infinite outputs on {len(bad)} "
            f"of {len(logits)} images ({shown}); check the classifier's weights and input normalization, or "
            "remove those images"
        )


@torch.no_grad()
def evaluate_classifier(clf, dataset, batch_size: int = 256, device="cpu", progress: bool = False) -> dict:
    """Accuracy, confusion matrix (rows: true class, columns: predicted) and per-class accuracy.

    clf: a FrozenClassifier, or any callable mapping [-1, 1] images to logits [N, K].
    dataset: an ImageDataset (stylex.datasets).

    For a world whose shortcut factor is in `dataset.factors`, also the accuracy where the
    shortcut agrees with the label and where it disagrees.
    """
    from tqdm import tqdm

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    logits = torch.cat([clf(x.to(device)).float().cpu()
                        for x, _ in tqdm(loader, desc="evaluating", unit="batch", disable=not progress, leave=False)])
    check_finite_logits(clf, logits, getattr(dataset, "paths", range(len(logits))))
    pred = logits.argmax(1)
    true = torch.as_tensor(dataset.labels)
    k = max(int(pred.max()) + 1, dataset.num_classes)
    confusion = torch.bincount(true * k + pred, minlength=k * k).reshape(k, k)
    per_class = {dataset.class_names[i]: (confusion[i, i] / confusion[i].sum()).item()
                 for i in range(dataset.num_classes) if confusion[i].sum() > 0}
    report = {
        "n": len(true),
        "accuracy": (pred == true).float().mean().item(),
        "confusion": confusion.tolist(),
        "per_class_accuracy": per_class,
        "class_names": list(dataset.class_names),
    }
    shortcut = (dataset.meta.get("world") or {}).get("shortcut")
    if shortcut and dataset.meta.get("label_factor") == dataset.meta["world"]["label"]:
        agree = torch.as_tensor(dataset.factors[shortcut["factor"]]) == true
        report["shortcut"] = {
            "factor": shortcut["factor"],
            "agreement_in_split": agree.float().mean().item(),
            "accuracy_when_agrees": (pred[agree] == true[agree]).float().mean().item() if agree.any() else None,
            "accuracy_when_disagrees": (pred[~agree] == true[~agree]).float().mean().item()
            if (~agree).any() else None,
        }
    return report


def shortcut_summary(shortcut: dict) -> str:
    """One line about the world shortcut part of an evaluation report ('n/a' where no image)."""
    def acc(v):
        return "n/a" if v is None else f"{v:.4f}"

    return (f"{shortcut['factor']} agrees with the label in {shortcut['agreement_in_split']:.1%} of the split; "
            f"accuracy {acc(shortcut['accuracy_when_agrees'])} where it agrees, "
            f"{acc(shortcut['accuracy_when_disagrees'])} where it disagrees")


def train_classifier(data: str, resolution: int, out: str | Path, arch: str = "small-cnn",
                     epochs: int = 10, batch_size: int = 64, lr: float | None = None,
                     weight_decay: float = 1e-4, pretrained: bool = False, input_size: int | None = None,
                     width: int = 32, flip: bool = True, device="cpu", seed: int = 0, split_seed: int = 0,
                     on_bad_image: str = "skip", num_workers: int = 0, progress: bool = True,
                     log=print) -> dict:
    """Train a classifier on a data spec, keep the best validation checkpoint, report the test split.

    data / resolution: data spec and the image size it is read at (the classifier's data resolution).
    out: classifier file to write; `<out stem>.report.json` (accuracies, confusion matrix, history)
      and `<out stem>.splits.csv` (which file was in which split) are written beside it.
    arch / pretrained / width: see build_classifier. input_size: size the network sees
      (default: 224 for ImageNet backbones, else the resolution).
    epochs / batch_size / lr (default 1e-3, or 1e-4 when pretrained) / weight_decay: Adam training.
    flip: random horizontal flips (turn off when the label is left/right, e.g. the world's pose).
    device / seed / on_bad_image / num_workers: where to run, the seed of initialisation, batch
      order and flips, what to do with unreadable images, DataLoader workers.
    split_seed: seed of the hashed split (data without an official split); later stages use the
      default 0, so change it only together with theirs.
    progress / log: progress bars and the function that prints per-epoch lines.
    Returns the report dict.
    """
    from tqdm import tqdm

    from stylex.datasets import open_dataset
    from stylex.runtime import seed_everything

    out = Path(out)
    device = torch.device(device)
    sets = {s: open_dataset(data, resolution, s, seed=split_seed, on_bad_image=on_bad_image)
            for s in ("train", "val", "test")}
    train_set, k = sets["train"], sets["train"].num_classes
    generator = seed_everything(seed)
    arch_kwargs = {"width": width} if arch == "small-cnn" else {}
    net = build_classifier(arch, k, pretrained=pretrained, **arch_kwargs).to(device)
    size = input_size or default_input_size(arch, resolution)
    norm = default_normalization(arch)
    prep = Preprocess(size, norm).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr or (1e-4 if pretrained else 1e-3), weight_decay=weight_decay)
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator,
                                         num_workers=num_workers)
    history, best, best_state = [], -1.0, None
    start = time.time()
    for epoch in range(1, epochs + 1):
        net.train()
        seen = correct = loss_sum = 0
        bar = tqdm(loader, desc=f"epoch {epoch}/{epochs}", unit="batch", disable=not progress, leave=False)
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            if flip:
                mask = torch.rand(len(x), generator=generator) < 0.5
                x = torch.where(mask.to(device)[:, None, None, None], x.flip(-1), x)
            logits = net(prep(x))
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(y)
            correct += (logits.argmax(1) == y).sum().item()
            loss_sum += loss.item() * len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        net.eval()
        val_acc = evaluate_classifier(lambda x: net(prep(x)), sets["val"], device=device)["accuracy"]
        history.append({"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                        "val_accuracy": val_acc})
        log(f"epoch {epoch}/{epochs}: train loss {loss_sum / seen:.4f}, train acc {correct / seen:.4f}, "
            f"val acc {val_acc:.4f}")
        if val_acc > best:
            best, best_state = val_acc, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    best_epoch = max(history, key=lambda h: h["val_accuracy"])["epoch"]
    final = FrozenClassifier(net, class_names=train_set.class_names, input_size=size,
                             normalization=norm).to(device)
    test = evaluate_classifier(final, sets["test"], device=device)
    info = {
        "data": str(data), "resolution": resolution, "seed": seed, "split_seed": split_seed, "epochs": epochs,
        "best_epoch": best_epoch, "val_accuracy": best, "test_accuracy": test["accuracy"],
        "label": train_set.meta.get("label_factor"),
    }
    save_classifier(out, net, arch=arch, arch_kwargs=arch_kwargs, class_names=train_set.class_names,
                    input_size=size, normalization=norm, info=info)
    report = {
        "classifier": str(out), "fingerprint": final.fingerprint, "arch": arch, "pretrained": pretrained,
        **info, "split_counts": {s: len(d) for s, d in sets.items()},
        "bad_files": [str(p) for d in sets.values() for p, _ in d.bad_files],
        "test": test, "history": history, "train_seconds": round(time.time() - start, 1),
    }
    (out.parent / f"{out.stem}.report.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = [row for d in sets.values() for row in d.split_table()]
    (out.parent / f"{out.stem}.splits.csv").write_text(
        "filename,split\n" + "".join(f"{f},{s}\n" for f, s in sorted(rows)))
    log(f"best epoch {best_epoch}: val acc {best:.4f}, test acc {test['accuracy']:.4f} -> {out}")
    return report
