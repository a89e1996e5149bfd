"""`stylex doctor`: what this machine can do (torch build, GPUs, optional packages, caches)."""

from __future__ import annotations

HELP = "say what this machine can do: torch build, GPUs, optional packages and weights, cache folders"
DESCRIPTION = """Check the installation without changing anything: the torch build and version, the
CUDA devices it sees, the optional packages (lpips and its weights, torchmetrics and the Inception
weights for FID, tensorboard, jupyter) and the cache folders (torch hub, the world oracle). For
each missing piece it prints one line: what it enables and how to get it. Nothing is downloaded.

Examples:
  stylex doctor
  stylex doctor --json       # the same as one JSON object
"""


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the findings as one JSON object")


def _found(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a package named in sys.modules as None, or a broken install
        return False


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _item(name: str, ok: bool, detail: str, enables: str = "", get: str = "") -> dict:
    """One finding: `detail` says what was found; `enables` and `get` matter where it is missing."""
    return {"name": name, "ok": bool(ok), "detail": detail, "enables": enables, "get": get}


def _torch_items(torch) -> list[dict]:
    cuda_build = torch.version.cuda
    hip_build = getattr(torch.version, "hip", None)
    build = f"CUDA {cuda_build} build" if cuda_build else f"ROCm {hip_build} build" if hip_build else "CPU-only build"
    tv = _version("torchvision")
    items = [_item("torch", True, f"torch {torch.__version__} ({build})"
                   + (f", torchvision {tv}" if tv else ", torchvision missing"))]
    if torch.cuda.is_available():
        devices = []
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            devices.append(f"cuda:{i} {p.name} ({p.total_memory / 2**30:.0f} GiB)")
        items.append(_item("cuda", True, f"{len(devices)} device(s): " + "; ".join(devices)))
    else:
        why = ("this torch build has no CUDA support" if not (cuda_build or hip_build)
               else f"this {build} sees no GPU (no device, no driver, or CUDA_VISIBLE_DEVICES hides it)")
        get = ("on a machine with an NVIDIA GPU and driver, install a CUDA build of torch "
               "(https://pytorch.org/get-started/locally/)" if not (cuda_build or hip_build)
               else "check `nvidia-smi` and CUDA_VISIBLE_DEVICES")
        items.append(_item("cuda", False, f"no GPU: {why}; everything runs on the CPU",
                           "training and AttFind on a GPU (--device cuda, torchrun with several GPUs); "
                           "the CPU is fine for the demo and 32 px", get))
    return items


def _lpips_item(torch, hub) -> dict:
    from pathlib import Path

    from stylex.training.losses import ALEXNET_FILE

    enables = "--perceptual lpips (the paper's AlexNet LPIPS perceptual term)"
    if not _found("lpips"):
        return _item("lpips", False, "the lpips package is not installed", enables,
                     "pip install 'stylex[lpips]' (or pip install lpips); its AlexNet weights "
                     f"({ALEXNET_FILE}) must also be in {hub / 'checkpoints'} (torch downloads them on first "
                     "use online)")
    import lpips

    linear = Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"
    backbone = hub / "checkpoints" / ALEXNET_FILE
    missing = [str(p) for p in (linear, backbone) if not p.is_file()]
    if missing:
        return _item("lpips", False, f"lpips {_version('lpips') or ''} is installed but weights are missing: "
                     + ", ".join(missing), enables,
                     f"run `stylex train --perceptual lpips ...` once online (torch downloads {ALEXNET_FILE}), "
                     f"or copy the file to {backbone}")
    return _item("lpips", True, f"lpips {_version('lpips') or ''} with its AlexNet weights ({backbone})")


def _fid_item(hub) -> dict:
    from stylex.maths import INCEPTION_FILE, inception_fid_available

    enables = ("Inception FID (fid_*) in training metrics and `stylex evaluate reconstruction`; without it "
               "they report a Frechet distance on the classifier's features (fd_classifier_*)")
    weights = hub / "checkpoints" / INCEPTION_FILE
    if not _found("torchmetrics"):
        return _item("fid", False, "torchmetrics is not installed", enables,
                     f"pip install 'torchmetrics[image]', then put {INCEPTION_FILE} at {weights} "
                     "(torchmetrics downloads it on first use online)")
    if not inception_fid_available():
        installed = f"torchmetrics {_version('torchmetrics')} is installed but"
        detail = (f"{installed} the Inception weights are not at {weights}" if not weights.is_file()
                  else f"{installed} its FID module does not import")
        return _item("fid", False, detail, enables,
                     "pip install 'torchmetrics[image]' (FID needs torch-fidelity and scipy) and compute one FID "
                     f"online once, or copy {INCEPTION_FILE} to {weights}")
    return _item("fid", True, f"torchmetrics {_version('torchmetrics')} with the Inception weights ({weights})")


def _package_items() -> list[dict]:
    items = []
    if _found("tensorboard"):
        items.append(_item("tensorboard", True, f"tensorboard {_version('tensorboard') or ''}".strip()))
    else:
        items.append(_item("tensorboard", False, "tensorboard is not installed",
                           "the scalars `stylex train` writes to RUN/tensorboard (training needs it)",
                           "pip install tensorboard"))
    frontends = [m for m in ("notebook", "jupyterlab", "nbclassic") if _found(m)]
    if frontends:
        items.append(_item("jupyter", True, "jupyter front end: " + ", ".join(frontends)))
    else:
        kernel = " (ipykernel is installed, so VS Code can run them)" if _found("ipykernel") else ""
        items.append(_item("jupyter", False, f"no jupyter front end (notebook or jupyterlab){kernel}",
                           "opening the notebooks in notebooks/ in a browser",
                           "pip install jupyter (or open them in VS Code with ipykernel)"))
    return items


def _cache_items(torch, hub) -> list[dict]:
    import os

    from stylex import oracle

    items = []
    where = "$TORCH_HOME/hub" if os.environ.get("TORCH_HOME") else "default; set TORCH_HOME to move it"
    if hub.is_dir():
        files = sorted(p.name for p in (hub / "checkpoints").glob("*")) if (hub / "checkpoints").is_dir() else []
        writable = os.access(hub, os.W_OK)
        items.append(_item("torch hub", True, f"{hub} ({where}; {len(files)} weight file(s) in checkpoints/"
                           + ("" if writable else "; not writable") + ")"))
    else:
        items.append(_item("torch hub", True, f"{hub} ({where}; does not exist yet: created at the first download)"))
    cache = oracle.default_cache_path()
    try:
        packaged = oracle._read(oracle.PACKAGED_WEIGHTS) if oracle.PACKAGED_WEIGHTS.is_file() else None
    except Exception:  # a damaged packaged file: reported as not usable
        packaged = None
    cached = cache.is_file()
    source = "$STYLEX_CACHE" if os.environ.get("STYLEX_CACHE") else "default; set STYLEX_CACHE to move it"
    if packaged is not None:
        detail = f"packaged weights for world version {oracle.WORLD_VERSION} ({oracle.PACKAGED_WEIGHTS})"
    elif cached:
        detail = f"cached weights at {cache}"
    else:
        detail = (f"no weights for world version {oracle.WORLD_VERSION}: the first ground-truth evaluation trains "
                  f"them (about a minute) into {cache}")
    items.append(_item("oracle", packaged is not None or cached, detail + f" (cache folder: {cache.parent}, {source})",
                       "`stylex evaluate ground_truth` and the demo's oracle numbers without a minute of training",
                       "reinstall stylex (the weights ship with the package) or let it train once"))
    return items


def _perceptual_item(items: list[dict]) -> dict:
    from stylex.config import training_preset

    default = training_preset("cpu-32").perceptual
    lpips_ok = next(i["ok"] for i in items if i["name"] == "lpips")
    if default == "lpips" and not lpips_ok:
        return _item("train default", False, "stylex train's default --perceptual lpips cannot run here",
                     "stylex train without a --perceptual flag",
                     "get lpips (above), or pass --perceptual classifier or --perceptual none")
    return _item("train default", True, f"stylex train's default --perceptual {default} can run here")


def diagnose() -> dict:
    """Every finding: {"python", "stylex", "platform", "items": [{name, ok, detail, enables, get}]}."""
    import platform
    import sys
    from pathlib import Path

    import torch

    import stylex

    hub = Path(torch.hub.get_dir())
    items = _torch_items(torch) + [_lpips_item(torch, hub), _fid_item(hub)] + _package_items()
    items.append(_perceptual_item(items))
    items += _cache_items(torch, hub)
    return {"stylex": stylex.__version__, "python": platform.python_version(), "platform": platform.platform(),
            "executable": sys.executable, "items": items}


def run(args):
    import json

    report = diagnose()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"stylex {report['stylex']} on Python {report['python']} ({report['platform']})")
    for item in report["items"]:
        print(f"  {'ok     ' if item['ok'] else 'missing'}  {item['name']:<13s} {item['detail']}")
        if not item["ok"]:
            print(f"  {'':7s}  {'':13s} enables: {item['enables']}; get it: {item['get']}")
    missing = [i["name"] for i in report["items"] if not i["ok"]]
    print("everything is in place" if not missing else f"{len(missing)} missing: {', '.join(missing)}")
    return 0
