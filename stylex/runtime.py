"""Run-time plumbing shared by every stage: device choice, seeding, batching, atomic file writes."""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import random
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from stylex.errors import StylexError


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn `auto`, `cpu`, `cuda` or `cuda:i` into a device, with a clear error if it does not exist."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise StylexError(f"--device {spec}: CUDA is not available on this machine; use --device cpu or auto")
        index = spec.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise StylexError(
                f"--device {spec}: no such GPU; this machine has {torch.cuda.device_count()} "
                f"(cuda:0 .. cuda:{torch.cuda.device_count() - 1})"
            )
        return torch.device(spec)
    raise StylexError(f"--device {spec}: unknown device; allowed: auto, cpu, cuda, cuda:<index>")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch.Generator seeded the same way for explicit use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def cuda_math(tf32: bool, benchmark: bool = True) -> Iterator[None]:
    """TF32 matmuls/convolutions and the cuDNN autotuner set for the block only; the caller's
    settings (process-wide torch.backends flags) are restored when it ends."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark
    matmul.allow_tf32 = cudnn.allow_tf32 = tf32
    cudnn.benchmark = benchmark
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark = saved


def _global_rng_state(device: torch.device) -> tuple:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda, np.random.get_state(), random.getstate()


def _set_global_rng_state(state: tuple, device: torch.device) -> None:
    cpu, cuda, numpy_state, python_state = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)
    np.random.set_state(numpy_state)
    random.setstate(python_state)


class RngStreams:
    """The global random generators (torch's CPU one and `device`'s CUDA one, NumPy's, Python's)
    as one owner's private streams.

    Code that draws from the global generators (network initialisation, torch.randn without a
    generator, random noise inputs) runs inside `with streams:`. On entering, the generators take
    the owner's states (the first time: whatever the block seeds them with); on leaving, the
    owner's states are kept and the caller's are put back. So the owner's numbers are exactly those
    of code that seeds the globals and draws from them directly, and neither side disturbs the
    other's. Blocks may nest (only the outermost swaps).
    """

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.state: tuple | None = None  # the owner's states between blocks (None: not started)
        self._depth, self._caller = 0, None

    def __enter__(self):
        if self._depth == 0:
            self._caller = _global_rng_state(self.device)
            if self.state is not None:
                _set_global_rng_state(self.state, self.device)
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0:
            self.state = _global_rng_state(self.device)
            _set_global_rng_state(self._caller, self.device)
            self._caller = None
        return False


def in_batches(items, batch: int) -> Iterator:
    """Consecutive slices items[i : i + batch] of a tensor (or anything sliceable with a len)."""
    for start in range(0, len(items), batch):
        yield items[start : start + batch]


def map_batches(fn, items: torch.Tensor, batch: int) -> torch.Tensor:
    """`fn` on each slice of `in_batches(items, batch)`, the results concatenated along dim 0 (an
    empty input gives an empty tensor)."""
    parts = [fn(part) for part in in_batches(items, batch)]
    return torch.cat(parts) if parts else torch.empty(0)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Write a file so that readers see either the old complete file or the new complete one.

    Yields a temporary path beside `path` (`.NAME.XXXX.tmp`, same folder so the rename stays on one
    file system) for the caller to write; when the block ends without an exception the temporary
    file is fsynced and renamed over `path` (os.replace); on any exception it is deleted and the
    exception propagates. Every atomic write of stylex goes through here.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (see `atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """torch.save through `atomic_output` (never a half-written file in place)."""
    with atomic_output(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as exc:  # torch reports a failed write (e.g. a full disk) as RuntimeError
            raise OSError(errno.EIO, f"writing failed, is the disk full? ({str(exc).splitlines()[0][:200]})",
                          str(path)) from exc


def check_writable_dir(path: str | os.PathLike, flag: str) -> Path:
    """Create directory `path` if needed and prove a file can be written there, so a read-only or
    unwritable output location fails at start, not after hours of work. `flag` names the argument
    in the error (e.g. "--out")."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path) as f:
            f.write(b"stylex write check")
            f.flush()
    except OSError as exc:
        raise StylexError(f"{flag} {path}: cannot write there ({exc.strerror or exc}); fix its permissions or "
                          "choose another location") from exc
    return path


def safe_torch_load(path: str | os.PathLike, what: str = "file"):
    """torch.load with weights_only=True (no code runs), turning every failure into a clear StylexError."""
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"{what} {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on odd files; the error says it
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # random bytes, or a pickle that wants to build arbitrary objects
        raise StylexError(
            f"{what} {path} could not be read: it is not a file of tensors and plain values (random bytes, or "
            "Python objects that stylex refuses to unpickle because that could run code). Re-create it with "
            "stylex, or point to another copy."
        ) from exc
    except Exception as exc:  # truncated or otherwise corrupt
        raise StylexError(
            f"{what} {path} could not be read ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "it is truncated, corrupt, or not a stylex file. Re-create it, or point to another copy."
        ) from exc
