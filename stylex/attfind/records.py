"""The AttFind records file: Step A for N images, written incrementally and resumable.

Layout (HDF5). Attributes: `format`, `version`, `meta` (JSON provenance: checkpoint and classifier
paths, absolute and relative to the records file's folder (`*_relative`), and fingerprints, data
spec, split, seed), `conditioning`, `shift`, `include_torgb`,
`class_names` and `layers` (JSON), `shard` ([rank, world]). Datasets, N images, S coordinates of
the analysed StyleSpace, S_all of all style layers, C classes:

    image_index [N]        the images' indices in their dataset split
    labels      [N]        their dataset labels (-1 if unknown)
    images      [N,3,R,R]  uint8 copies of the originals (for figures and reconstruction metrics)
    latents     [N,w_dim]  w = E(x)
    conditions  [N,C]      c = the classifier output the generator was conditioned on
    real_logits [N,C]      C(x)
    base_logits [N,C]      C(clamp(G(s))): the reference point of every effect
    styles      [N,S_all]  s, every style layer (toRGB included) so images can be re-rendered
    style_min, style_max [S]  extremes over the N images (of the analysed coordinates)
    effect      [N,2,S,C]  logits(C(clamp(G(s')))) - base_logits; [:,0] toward style_min, [:,1] toward style_max
    disc_base [N], disc_effect [N,2,S]   only with a discriminator: D(x, softmax(C(x))) of x = clamp(G(s)),
                           and D(x', softmax(C(x'))) - disc_base of the edits x' made with shift
                           `disc_shift` (attribute; 2 by default) instead of `shift`
    computed    [N,2,S]    only with method `taylor`: 1 where the effect was computed exactly; the
                           edits the screen left out hold their first-order estimate (and a
                           disc_effect of 0); see stylex/attfind/taylor.py
    done        [N]        1 once an image's effects are on disk

Attributes `method` (the effect method's name, `exact` | `taylor` | `reference`, see
stylex/attfind/methods.py; files without it are exact) and `candidates` (Taylor
candidates per class; 0 for exact) say how the effects were computed. Every generated image is
clamped to [-1, 1] before the classifier sees it, as `Editor` renders it for the evaluation.

Everything but `effect`, `disc_effect` and `done` is written once, to a temporary file that is
renamed into place, so a file that exists is always complete up to its done mask. Afterwards only
rows of preallocated fixed-size datasets are overwritten (no HDF5 metadata changes): an image's
rows are written and flushed before its done flag is set and flushed, so a done flag on disk
always has its data beside it (tests/test_attfind_records.py stops a run at every write and flush).
A run killed at any moment (even with kill -9) resumes at the first image not done and ends with the same records.
"""

from __future__ import annotations

import glob
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

from stylex.attfind.effects import (
    Classifier,
    DiscriminatorScore,
    EditSpec,
    EffectMethod,
    ImageEffects,
    default_batch,
    discriminator_score,
)
from stylex.attfind.methods import effect_method
from stylex.errors import StylexError
from stylex.maths import clamp_images, condition_from_logits, to_uint8
from stylex.runtime import atomic_output, in_batches
from stylex.stylespace import StyleLayer, StyleSpace

FORMAT = "stylex-attfind-records"
VERSION = 1


@dataclass
class RecordsMeta:
    """The provenance a records file keeps in its `meta` attribute (what `stylex attfind` writes;
    `Records.provenance` reads it back). Paths are recorded absolute and, where one exists,
    relative to the records file's folder (`*_relative`).

    `to_dict` gives the JSON `compute_records` stores: every field, except a `*_relative` path that
    is None, plus `extra` (keys of other writers, kept as they are).
    """

    checkpoint: str | None = None
    checkpoint_relative: str | None = None
    checkpoint_sha256: str | None = None
    classifier: str | None = None
    classifier_relative: str | None = None
    classifier_fingerprint: str | None = None
    data: str | None = None
    split: str | None = None
    seed: int | None = None
    world: dict | None = None  # on a synthetic world: {"label": factor, "shortcut": factor or None}
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        names = [f for f in self.__dataclass_fields__ if f != "extra"]
        out = {k: getattr(self, k) for k in names if not (k.endswith("_relative") and getattr(self, k) is None)}
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, data: dict | None) -> RecordsMeta:
        data = dict(data or {})
        known = {k: data.pop(k) for k in list(data) if k in cls.__dataclass_fields__ and k != "extra"}
        return cls(**known, extra=data)


@dataclass
class Records:
    """A records file read into memory (arrays as documented in the module docstring)."""

    path: Path
    meta: dict
    conditioning: str
    shift: float
    include_torgb: bool
    class_names: list[str]
    layers: tuple[StyleLayer, ...]
    shard: tuple[int, int]
    image_index: np.ndarray
    labels: np.ndarray
    images: np.ndarray
    latents: np.ndarray
    conditions: np.ndarray
    real_logits: np.ndarray
    base_logits: np.ndarray
    styles: np.ndarray
    style_min: np.ndarray
    style_max: np.ndarray
    effect: np.ndarray
    done: np.ndarray
    disc_base: np.ndarray | None = None
    disc_effect: np.ndarray | None = None
    method: str = "exact"
    candidates: int = 0
    computed: np.ndarray | None = None
    disc_shift: float | None = None  # the shift of the edits D scored (None: no D, or a file from before the rule)

    @property
    def num_images(self) -> int:
        return len(self.image_index)

    @property
    def num_classes(self) -> int:
        return self.base_logits.shape[1]

    @property
    def provenance(self) -> RecordsMeta:
        """`meta` as a RecordsMeta (checkpoint, classifier, data, split, seed, world)."""
        return RecordsMeta.from_dict(self.meta)

    @property
    def space(self) -> StyleSpace:
        """The analysed StyleSpace (the coordinates of `effect`, `style_min`, `style_max`)."""
        return StyleSpace(self.layers, include_torgb=self.include_torgb)

    @property
    def full_space(self) -> StyleSpace:
        """All style layers (the coordinates of `styles`)."""
        return StyleSpace(self.layers, include_torgb=True)

    @property
    def full_index(self) -> np.ndarray:
        """[S]: the position of each analysed coordinate in `styles`."""
        space, full = self.space, self.full_space
        return np.array([full.flat_index(*space.locate(k)) for k in range(space.size)], dtype=np.int64)

    @property
    def predicted(self) -> np.ndarray:
        """[N]: the classifier's decision on each image's reconstruction (Step C splits by it)."""
        return self.base_logits.argmax(axis=1)

    @property
    def complete(self) -> bool:
        return bool(self.done.all())


_ARRAYS = ("image_index", "labels", "images", "latents", "conditions", "real_logits", "base_logits",
           "styles", "style_min", "style_max", "effect", "done")


def load_records(path: str | Path, require_complete: bool = True) -> Records:
    """Read a records file. With `require_complete`, a file whose images are not all done is an error
    that says how to finish it."""
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"records file {path} does not exist; create it with `stylex attfind`")
    try:
        # No file lock: a running `stylex attfind` holds the write lock, and reading its progress is
        # safe (after creation only rows and the done mask change, never HDF5 metadata).
        with h5py.File(path, "r", locking=False) as f:
            if f.attrs.get("format") != FORMAT:
                raise StylexError(f"{path} is not a stylex AttFind records file")
            if int(f.attrs["version"]) != VERSION:
                raise StylexError(f"records file {path} has version {f.attrs['version']}; this stylex reads {VERSION}")
            arrays = {name: f[name][()] for name in _ARRAYS}
            disc = {name: f[name][()] if name in f else None for name in ("disc_base", "disc_effect", "computed")}
            attrs = dict(f.attrs)
    except OSError as exc:
        raise StylexError(
            f"records file {path} could not be read ({exc}); it is damaged: delete it and re-run"
        ) from exc
    records = Records(
        path=path,
        meta=json.loads(attrs["meta"]),
        conditioning=str(attrs["conditioning"]),
        shift=float(attrs["shift"]),
        include_torgb=bool(attrs["include_torgb"]),
        class_names=json.loads(attrs["class_names"]),
        layers=tuple(StyleLayer(*layer) for layer in json.loads(attrs["layers"])),
        shard=tuple(int(v) for v in attrs["shard"]),
        method=str(attrs.get("method", "exact")),
        candidates=int(attrs.get("candidates", 0)),
        disc_shift=float(attrs["disc_shift"]) if "disc_shift" in attrs else None,
        **arrays,
        **disc,
    )
    records.done = records.done.astype(bool)
    if require_complete and not records.complete:
        raise StylexError(
            f"records file {path} is incomplete ({int(records.done.sum())} of {records.num_images} images done); "
            "re-run the same `stylex attfind` command to finish it (or merge its shards)"
        )
    return records


def _settings(meta, conditioning, shift, include_torgb, shard, image_index, with_disc, method, candidates,
              disc_shift) -> dict:
    """What must match for a run to resume an existing records file."""
    return dict(meta=meta, conditioning=conditioning, shift=float(shift), include_torgb=bool(include_torgb),
                shard=list(shard), image_index=[int(i) for i in image_index], discriminator=bool(with_disc),
                method=str(method), candidates=int(candidates),
                disc_shift=None if disc_shift is None or not with_disc else float(disc_shift))


def _file_settings(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return _settings(json.loads(f.attrs["meta"]), str(f.attrs["conditioning"]), f.attrs["shift"],
                         f.attrs["include_torgb"], f.attrs["shard"], f["image_index"][()], "disc_effect" in f,
                         f.attrs.get("method", "exact"), f.attrs.get("candidates", 0), f.attrs.get("disc_shift"))


@torch.no_grad()
def _base_pass(G, E, classifier, images, conditioning, batch, device, discriminator):
    """Everything per image that is not an edit: latents, conditions, logits, style vectors."""
    full = G.stylespace(include_torgb=True)
    out = {k: [] for k in ("latents", "conditions", "real_logits", "base_logits", "styles", "disc_base")}
    for x in in_batches(images, batch):
        x = x.to(device)
        real_logits = classifier(x)
        c = condition_from_logits(real_logits, conditioning)
        w = E(x)
        styles = G.styles(w, c)
        base = clamp_images(G.synthesis(styles, noise_mode="const"))
        base_logits = classifier(base)
        for key, value in (("latents", w), ("conditions", c), ("real_logits", real_logits),
                           ("base_logits", base_logits), ("styles", full.flatten(styles))):
            out[key].append(value.float().cpu())
        if discriminator:
            out["disc_base"].append(discriminator_score(discriminator, base, base_logits).cpu())
    return {k: torch.cat(v).numpy() for k, v in out.items() if v}


@dataclass
class AttFindNetworks:
    """The networks of Step A (eval mode, on one device)."""

    G: object  # the trained generator
    E: object  # its encoder
    classifier: Classifier  # images in [-1, 1] -> logits
    discriminator: DiscriminatorScore | None = None  # optional `(images, conditions) -> scores`


@dataclass
class AnalysedImages:
    """The images Step A analyses (kept on the CPU) and what the records keep about them.

    Args:
        images: [N, 3, R, R] in [-1, 1].
        labels: their dataset labels (None: unknown, stored as -1).
        image_index: their indices in the dataset split (default 0..N-1), for provenance.
        class_names: names of the classifier's classes (default "0", "1", ...).
    """

    images: torch.Tensor
    labels: object = None
    image_index: object = None
    class_names: list[str] | None = None

    def __post_init__(self):
        n = len(self.images)
        self.image_index = np.arange(n) if self.image_index is None else np.asarray(self.image_index)
        self.labels = np.full(n, -1) if self.labels is None else np.asarray(self.labels)


@dataclass
class RecordsOptions:
    """How a records run goes (everything but the networks, images, edits and method).

    Args:
        conditioning: `probs` or `logits`, as the generator was trained.
        batch: images per call in the base pass (None: `effects.default_batch(device)`); a method
            given by name gets it as its batch of edited images too.
        device: where the networks are.
        meta: JSON-serialisable provenance (checkpoint, classifier, data...); must match to resume.
        shard: (rank, world): only images with index % world == rank get their effects (the
            other rows stay not done); shards of one run merge with `merge_records`.
        overwrite: replace an existing file made with other settings instead of refusing.
        progress: show a progress bar. on_image: called with each image's row once it is on disk.
    """

    conditioning: str = "probs"
    batch: int | None = None
    device: str | torch.device = "cpu"
    meta: dict | None = None
    shard: tuple[int, int] = (0, 1)
    overwrite: bool = False
    progress: bool = True
    on_image: Callable[[int], None] | None = None


class RecordsFile:
    """A records file being written: made (`create`) or reopened (`open_or_resume`), then one row
    per image (`write_row`: the row's data, flush, then its done flag, flush) and `finish`. Use it as
    a context manager so the HDF5 handle is closed however the run ends."""

    def __init__(self, path: Path, records: Records):
        self.path, self.records, self._file = path, records, None

    @staticmethod
    def settings(nets: AttFindNetworks, data: AnalysedImages, spec: EditSpec, method: EffectMethod,
                 options: RecordsOptions, meta: dict) -> dict:
        """What must match for a run to resume an existing file."""
        return _settings(meta, options.conditioning, spec.shift, spec.space.include_torgb, options.shard,
                         data.image_index, nets.discriminator is not None, method.name, method.candidates,
                         spec.disc_shift)

    @classmethod
    def create(cls, path: Path, nets: AttFindNetworks, data: AnalysedImages, spec: EditSpec, method: EffectMethod,
               options: RecordsOptions, meta: dict) -> RecordsFile:
        """Compute the per-image base values and write a new records file atomically."""
        G, images, space, device = nets.G, data.images, spec.space, options.device
        base = _base_pass(G, nets.E, nets.classifier, images, options.conditioning,
                          options.batch or default_batch(device), device, nets.discriminator)
        n, c = len(images), base["base_logits"].shape[1]
        class_names = list(data.class_names) if data.class_names else [str(i) for i in range(c)]
        if len(class_names) != c:
            raise StylexError(f"{len(class_names)} class names given for a classifier with {c} outputs")
        full = G.stylespace(include_torgb=True)
        analysed = base["styles"][:, [full.flat_index(*space.locate(k)) for k in range(space.size)]]
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):  # left by a run killed while creating
            stale.unlink(missing_ok=True)
        with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs.update(
                format=FORMAT, version=VERSION, meta=json.dumps(meta, sort_keys=True),
                conditioning=options.conditioning, shift=float(spec.shift), include_torgb=bool(space.include_torgb),
                shard=np.array(options.shard, dtype=np.int64), class_names=json.dumps(class_names),
                layers=json.dumps([[l.name, l.kind, l.resolution, l.channels] for l in space.layers]),
                method=method.name, candidates=int(method.candidates),
            )
            if nets.discriminator:
                f.attrs["disc_shift"] = float(spec.disc_shift)
            f["image_index"] = np.asarray(data.image_index, dtype=np.int64)
            f["labels"] = np.asarray(data.labels, dtype=np.int64)
            f.create_dataset("images", data=to_uint8(images).numpy(), compression="gzip",
                             chunks=(1, *images.shape[1:]))
            for key in ("latents", "conditions", "real_logits", "base_logits", "styles"):
                f[key] = base[key]
            f["style_min"], f["style_max"] = analysed.min(axis=0), analysed.max(axis=0)
            # Written in full now so their storage is allocated: later writes only overwrite rows.
            f["effect"] = np.zeros((n, 2, space.size, c), dtype=np.float32)
            f["done"] = np.zeros(n, dtype=np.uint8)
            if nets.discriminator:
                f["disc_base"] = base["disc_base"]
                f["disc_effect"] = np.zeros((n, 2, space.size), dtype=np.float32)
            if method.partial:
                f["computed"] = np.zeros((n, 2, space.size), dtype=np.uint8)
        return cls(path, load_records(path, require_complete=False))

    @classmethod
    def open_or_resume(cls, path: str | Path, nets: AttFindNetworks, data: AnalysedImages, spec: EditSpec,
                       method: EffectMethod, options: RecordsOptions) -> RecordsFile:
        """The file at `path` if it was made with the same settings (refused otherwise, unless
        `options.overwrite`), else a new one (`create`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.loads(json.dumps(options.meta or {}, sort_keys=True))  # as it reads back from the file
        if not path.exists() or options.overwrite:
            return cls.create(path, nets, data, spec, method, options, meta)
        try:
            found = _file_settings(path)
        except (OSError, KeyError) as exc:
            raise StylexError(
                f"{path} exists but is not a readable records file ({exc}); delete it or pass --overwrite"
            ) from exc
        wanted = cls.settings(nets, data, spec, method, options, meta)
        if found != wanted:
            differ = ", ".join(  # name the provenance entries (checkpoint, classifier...) that differ
                f"meta: {', '.join(k for k in wanted['meta'] if wanted['meta'][k] != found['meta'].get(k))}"
                if k == "meta" and isinstance(found["meta"], dict) else k for k in wanted if wanted[k] != found[k])
            raise StylexError(
                f"records file {path} was made with other settings ({differ}); "
                "use another --out, or --overwrite to replace it"
            )
        return cls(path, load_records(path, require_complete=False))

    def todo(self, shard: tuple[int, int]) -> list[int]:
        """The rows of this shard not done yet."""
        rank, world = shard
        return [i for i in range(self.records.num_images) if i % world == rank and not self.records.done[i]]

    def write_row(self, i: int, result: ImageEffects) -> None:
        """Image i's effects, into the file and into `records`: its data rows, flush, then its done
        flag, flush (so a done flag on disk always has its data beside it)."""
        if self._file is None:
            self._file = h5py.File(self.path, "r+")
        f, records = self._file, self.records
        if records.computed is not None:
            records.computed[i] = result.computed.cpu().numpy()
            f["computed"][i] = records.computed[i]
        records.effect[i] = result.effect.cpu().numpy()
        f["effect"][i] = records.effect[i]
        if records.disc_effect is not None:
            records.disc_effect[i] = result.disc.cpu().numpy()
            f["disc_effect"][i] = records.disc_effect[i]
        f.flush()
        f["done"][i] = 1
        f.flush()
        records.done[i] = True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def finish(self) -> Records:
        """Close the file; the records as written."""
        self.close()
        return self.records

    def __enter__(self) -> RecordsFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def compute_records(
    path: str | Path,
    nets: AttFindNetworks,
    data: AnalysedImages,
    spec: EditSpec,
    method: str | EffectMethod = "exact",
    options: RecordsOptions | None = None,
) -> Records:
    """Step A of AttFind for `data`, written to (or resumed from) the records file `path`.

    Args:
        path: the records file; if it exists with the same settings, the run resumes it.
        nets: the trained generator and encoder, the classifier and optionally a discriminator,
            whose change D(x', softmax(C(x'))) - D(x, softmax(C(x))) is recorded for the edits made
            with `spec.disc_shift`.
        data: the images (with labels, indices and class names).
        spec: the edited StyleSpace (`G.stylespace(include_torgb)`) and shifts; its extremes are
            those of the analysed images (read from the file).
        method: an `EffectMethod`, or a name in `methods.EFFECT_METHODS` (made with `options.batch`).
        options: conditioning, batch, device, provenance, sharding... (`RecordsOptions`).
    """
    options = options or RecordsOptions()
    method = effect_method(method, batch=options.batch)
    if options.conditioning not in ("probs", "logits"):
        raise ValueError(f"conditioning must be probs or logits, got {options.conditioning!r}")
    with RecordsFile.open_or_resume(path, nets, data, spec, method, options) as out:
        records = out.records
        spec = spec.with_extremes(*(torch.from_numpy(v).to(options.device)
                                    for v in (records.style_min, records.style_max)))
        for i in tqdm(out.todo(options.shard), desc="AttFind", unit="img", disable=not options.progress):
            styles = records.full_space.unflatten(torch.from_numpy(records.styles[i : i + 1]).to(options.device))
            out.write_row(i, method.effects(nets.G, nets.classifier, styles, spec, nets.discriminator))
            if options.on_image:
                options.on_image(i)
        return out.finish()


def shard_path(out: str | Path, rank: int, world: int) -> Path:
    """The file of one shard of a sharded run writing `out`."""
    out = Path(out)
    return out.with_name(f"{out.stem}.shard{rank}-of-{world}{out.suffix}")


def merge_records(shards: list[str | Path], out: str | Path) -> Records:
    """Merge the shard files of one run into `out` (each image's effects from the shard that did it)."""
    if not shards:
        raise StylexError("merge needs at least one shard file")
    parts = [load_records(p, require_complete=False) for p in shards]
    first = parts[0]
    for part in parts[1:]:
        same = (part.meta == first.meta and part.shift == first.shift and part.include_torgb == first.include_torgb
                and (part.method, part.candidates) == (first.method, first.candidates)
                and part.disc_shift == first.disc_shift
                and np.array_equal(part.image_index, first.image_index)
                and np.allclose(part.styles, first.styles, atol=1e-4))
        if not same:
            raise StylexError(f"{part.path} is not a shard of the same run as {first.path}; merge shards of one run")
    out = Path(out)
    with atomic_output(out) as tmp:
        shutil.copyfile(first.path, tmp)
        with h5py.File(tmp, "r+") as f:
            f.attrs["shard"] = np.array([0, 1], dtype=np.int64)
            done = first.done.copy()
            for part in parts[1:]:
                rows = np.flatnonzero(part.done & ~done)
                for i in rows:
                    f["effect"][i] = part.effect[i]
                    if part.disc_effect is not None:
                        f["disc_effect"][i] = part.disc_effect[i]
                    if part.computed is not None:
                        f["computed"][i] = part.computed[i]
                done |= part.done
            f["done"][...] = done.astype(np.uint8)
    return load_records(out, require_complete=False)
