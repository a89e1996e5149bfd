"""The pipeline as Python functions: train, attfind, explain, evaluate.

Each stage of the command line is one function here, and `stylex train|attfind|explain|evaluate`
only parse their flags, call it and print what it returns. From a notebook:

    import stylex

    run = stylex.train(out="runs/smile", data="world/", classifier="smile.pt", kimg=0.5)
    found = stylex.run_attfind(out="runs/smile/attfind/records.h5", run=run.out, num_images=50)
    figures = stylex.explain(found, out="runs/smile/explain")
    numbers = stylex.run_evaluation("sufficiency", found, top_k=5)

The functions take keyword arguments (or a request dataclass, for `train` and `attfind`) and
return dataclasses. `stylex.attfind` and `stylex.evaluate` are sub-modules, so at package level
these two are called `stylex.run_attfind` and `stylex.run_evaluation`; here they have the command
names (`stylex.api.attfind`, `stylex.api.evaluate`). Nothing heavy is imported until a function
runs (`import stylex` stays fast).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylex.errors import StylexError

RUN_FILES = ("config.json", "stats.jsonl", "checkpoints", "samples", "tensorboard")


# -- train ---------------------------------------------------------------------------------------


@dataclass
class TrainRequest:
    """One `stylex train` run.

    `settings` are TrainingConfig fields (kimg, batch, rec_l1, ..., seed) and the network's
    `stylex.config.NETWORK_SETTINGS` (resolution, discriminator); those left out come from `preset`
    (new run) or from the run being resumed (where only `stylex.config.RESUMABLE` fields may change).
    """

    out: str | Path
    data: str | None = None  # default when resuming: the run's
    classifier: str | None = None  # default when resuming: the run's
    preset: str = "cpu-32"
    settings: dict = field(default_factory=dict)
    resume: str | None = None  # "latest" (the newest checkpoint in out) or a checkpoint file
    force: bool = False  # start afresh in a non-empty out (deletes its checkpoints, samples, logs)
    dry_run: bool = False  # resolve and check everything, train nothing
    metrics_split: str = "val"
    device: str = "auto"
    progress: bool = True


@dataclass
class TrainResult:
    out: Path
    config: Any  # the resolved TrainingConfig (written to out/config.json)
    main_process: bool  # False on the other processes of a torchrun
    dry_run: bool = False
    checkpoint: Path | None = None  # the last checkpoint written
    nimg: int = 0  # real images shown to D
    interrupted: bool = False
    metrics: dict = field(default_factory=dict)  # the held-out metrics at the end


def resolve_training_config(request: TrainRequest, checkpoint_config: dict | None = None):
    """The run's TrainingConfig: the preset (new run) or the checkpoint's (resume), plus settings,
    validated. Refuses to change a non-resumable setting on resume."""
    from stylex.config import NETWORK_SETTINGS, RESUMABLE, TrainingConfig, from_dict, training_preset

    given = {k: v for k, v in request.settings.items() if v is not None}
    network = {k: given.pop(k) for k in NETWORK_SETTINGS if k in given}
    fixed = {"network", "preset", "data", "classifier", "classifier_fingerprint", "class_names"}
    unknown = sorted(set(given) - {f.name for f in dataclasses.fields(TrainingConfig)} | (set(given) & fixed))
    if unknown:
        raise StylexError(f"unknown training setting(s) {', '.join(unknown)}; see stylex.config.TrainingConfig")
    if checkpoint_config is None:
        cfg = training_preset(request.preset)
    else:
        cfg = from_dict(TrainingConfig, checkpoint_config)
        given.pop("seed", None)
        conflicts = [f for f, v in given.items() if f not in RESUMABLE and v != getattr(cfg, f)]
        conflicts += [f for f, v in network.items() if v != getattr(cfg.network, f)]
        if conflicts:
            raise StylexError(
                f"--resume: {', '.join(conflicts)} differ from the run being resumed; only "
                f"{', '.join(sorted(RESUMABLE))} may change. Start a new run (another --out) to change the others."
            )
    for name, value in given.items():
        setattr(cfg, name, value)
    for name, value in network.items():
        setattr(cfg.network, name, value)
    return cfg.validate()


def _prepare_run_dir(request: TrainRequest, is_main: bool) -> None:
    """Refuse to overwrite a run unless resuming or forced; force deletes the old run's files."""
    import shutil

    out = Path(request.out)
    if out.exists() and not out.is_dir():
        raise StylexError(f"--out {out} is a file; give a directory")
    if out.exists() and any(out.iterdir()) and not request.resume and not request.dry_run:
        if not request.force:
            raise StylexError(
                f"--out {out} already exists and is not empty; use --resume to continue it, --force to start "
                "afresh there (deletes its checkpoints, samples and logs), or choose another directory"
            )
        if is_main:
            for name in RUN_FILES:
                target = out / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()


def _check_training_inputs(cfg, world_size: int) -> None:
    """What can fail before any data is read or network built."""
    if not cfg.data or not cfg.classifier:
        raise StylexError("--data and --classifier are required for a new run")
    if cfg.perceptual == "lpips":
        from stylex.training.losses import check_lpips_available

        check_lpips_available()  # fail now, not after loading data and building networks
    from stylex.training.loop import split_batch

    split_batch(cfg, world_size)  # fail now, not after loading data


def _load_training_inputs(cfg, request: TrainRequest, device, resumed: bool):
    """The classifier and the train and held-out splits, checked against each other and the run;
    fills in the classifier's fingerprint, class count and names."""
    import torch

    from stylex.classifiers import check_finite_outputs, check_num_classes, class_names_for, load_classifier
    from stylex.datasets import open_dataset

    classifier = load_classifier(cfg.classifier, device, resolution=cfg.network.resolution)
    if cfg.perceptual == "classifier" and not classifier.has_features:
        raise StylexError(
            f"--perceptual classifier: {cfg.classifier} is a {classifier.kind} model whose intermediate "
            "feature maps are unknown; use --perceptual lpips or none"
        )
    if resumed and cfg.classifier_fingerprint != classifier.fingerprint:
        raise StylexError(
            f"--classifier {cfg.classifier} is not the classifier this run was trained with (fingerprint "
            f"{classifier.fingerprint[:12]} vs {cfg.classifier_fingerprint[:12]}); pass the original file"
        )
    cfg.classifier_fingerprint = classifier.fingerprint
    cfg.network.c_dim = classifier.num_classes
    # Splits use open_dataset's default seed, like `stylex train-classifier`, so StylEx holds out
    # the same images as the classifier did.
    dataset = open_dataset(cfg.data, cfg.network.resolution, "train")
    check_num_classes(classifier, dataset.num_classes)
    cfg.class_names = class_names_for(classifier, dataset.class_names)
    first = range(min(64, len(dataset)))  # a classifier giving NaN fails here, named, not as bad steps
    check_finite_outputs(classifier, torch.stack([dataset[i][0] for i in first]), dataset.paths)
    heldout = open_dataset(cfg.data, cfg.network.resolution, request.metrics_split)
    return classifier, dataset, heldout


def _train_request(request: TrainRequest | None, kwargs: dict) -> TrainRequest:
    if request is not None:
        if kwargs:
            raise TypeError("give a TrainRequest or keyword arguments, not both")
        return request
    names = {f.name for f in dataclasses.fields(TrainRequest)}
    settings = {**kwargs.pop("settings", {}), **{k: kwargs.pop(k) for k in list(kwargs) if k not in names}}
    if kwargs.get("resume") is True:
        kwargs["resume"] = "latest"
    return TrainRequest(**kwargs, settings=settings)


def train(request: TrainRequest | None = None, /, *, log=print, **kwargs) -> TrainResult:
    """Train StylEx (G, E, D) to explain a classifier; what `stylex train` runs.

    Args:
        request: a TrainRequest, or its fields as keyword arguments (out, data, classifier, preset,
            resume, force, dry_run, metrics_split, device, progress), any other keyword being a
            setting (kimg=0.5, batch=8, perceptual="none", resolution=16, seed=1, ...).
        log: prints the one-line start message (main process only).
    """
    from stylex.config import save_json
    from stylex.runtime import check_writable_dir
    from stylex.training import checkpoint as ckpt
    from stylex.training.distributed import barrier, init_distributed, shutdown

    request = _train_request(request, kwargs)
    out = Path(request.out)
    dist = init_distributed(request.device)
    try:
        checkpoint = path = None
        if request.resume:
            path = ckpt.resolve_checkpoint(out if request.resume == "latest" else request.resume)
            checkpoint = ckpt.load_checkpoint(path)
        cfg = resolve_training_config(request, None if checkpoint is None else checkpoint["config"])
        cfg.data = request.data or cfg.data
        cfg.classifier = request.classifier or cfg.classifier
        _check_training_inputs(cfg, dist.world_size)
        _prepare_run_dir(request, dist.is_main)
        classifier, dataset, heldout = _load_training_inputs(cfg, request, dist.device, checkpoint is not None)
        if request.dry_run:
            return TrainResult(out, cfg, dist.is_main, dry_run=True)
        if dist.is_main:
            check_writable_dir(out, "--out")  # a read-only place fails now, not at the first checkpoint
            save_json(cfg, out / "config.json")
            log(f"training {len(dataset)} images ({cfg.data}), {dist.world_size} process(es) on {dist.device}; "
                f"held-out: {len(heldout)} {request.metrics_split} images -> {request.out}")
        barrier(dist)
        from stylex.training.loop import Trainer

        trainer = Trainer(cfg, dataset, classifier, out, dist, heldout=heldout,
                          progress=request.progress and dist.is_main)
        if checkpoint is not None:
            _load_trainer_state(trainer, checkpoint, path)
            del checkpoint
        result = trainer.train()
        return TrainResult(out, cfg, dist.is_main, checkpoint=result["checkpoint"], nimg=result["nimg"],
                           interrupted=result["interrupted"], metrics=result["metrics"])
    finally:
        shutdown(dist)


def _load_trainer_state(trainer, checkpoint: dict, path) -> None:
    try:
        trainer.load_state_dict(checkpoint)
    except (RuntimeError, KeyError, ValueError) as exc:  # an edited or mixed-up checkpoint
        raise StylexError(f"--resume: checkpoint {path} does not fit the network and optimizers of its own "
                          f"configuration ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}); "
                          "resume from another checkpoint of the run") from exc


# -- attfind -------------------------------------------------------------------------------------


@dataclass
class AttFindRequest:
    """One `stylex attfind` run: records of `num_images` images (Step A), then the selection."""

    out: str | Path  # the records file to write or resume (e.g. RUN_DIR/attfind/records.h5)
    run: str | Path | None = None  # training run directory (its newest checkpoint) or checkpoint file
    data: str | None = None  # default: the run's training data
    split: str = "test"
    classifier: str | Path | None = None  # default: the one the run was trained with
    num_images: int = 250  # a seeded random sample of the split
    seed: int = 0
    batch: int | None = None
    method: str = "exact"  # exact | taylor
    candidates: int | None = None  # taylor: edits computed exactly per class and image
    precision: str = "fp32"
    shift: float = 1.0
    include_torgb: bool = False
    discriminator_score: bool = False
    overwrite: bool = False
    progress: bool = True
    device: str = "auto"
    selection: Any = None  # SelectionOptions (default: SelectionOptions())


@dataclass
class AttFindResult:
    records_path: Path
    main_process: bool  # False on the other processes of a torchrun (they return nothing else)
    records: Any = None  # the Records
    selection: Any = None  # the Selection (None while the records are incomplete)
    attributes_path: Path | None = None

    @property
    def complete(self) -> bool:
        return self.records is not None and self.records.complete


@dataclass
class SelectResult:
    selection: Any  # the Selection
    attributes_path: Path


def check_top_k(top_k: int, size: int) -> None:
    """top_k cannot exceed the analysed coordinates; checked before any long work."""
    if top_k > size:
        raise StylexError(f"--top-k {top_k} is more than the {size} style coordinates analysed; "
                          f"use at most {size} (or --include-torgb for more coordinates)")


def sample_images(dataset, n: int, seed: int):
    """A seeded random sample of n images of the split, in dataset order: (images, labels, index)."""
    import numpy as np
    import torch

    n = min(n, len(dataset))
    index = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:n])
    items = [dataset[int(i)] for i in index]
    return torch.stack([x for x, _ in items]), np.array([y for _, y in items]), index


def _discriminator_scorer(checkpoint: Path, net_config, device):
    """D of the checkpoint, scoring each image on its own (minibatch std over one image, so a score
    does not depend on which other edits share its batch)."""
    from stylex.training.checkpoint import load_checkpoint

    D = net_config.build_discriminator()
    D.load_state_dict(load_checkpoint(checkpoint)["D"])
    D = D.to(device).eval().requires_grad_(False)
    D.trunk.mbstd_group = min(D.trunk.mbstd_group, 1)
    return lambda images, c: D(images, c)


def _attfind_inputs(request: AttFindRequest, trained, checkpoint: Path, device):
    """The dataset split and classifier of an AttFind run, checked against the trained model."""
    from stylex.classifiers import load_classifier
    from stylex.datasets import open_dataset

    clf_path = request.classifier or trained.classifier_path
    if not clf_path:
        raise StylexError(f"the run of {checkpoint} does not name its classifier; pass --classifier")
    data = request.data or trained.config.get("data")
    if not data:
        raise StylexError(f"the run of {checkpoint} does not name its data; pass --data")
    G = trained.G
    dataset = open_dataset(data, G.resolution, split=request.split)  # the split seed `stylex train` uses
    classifier = load_classifier(clf_path, device, num_classes=dataset.num_classes, resolution=G.resolution)
    if classifier.num_classes != G.c_dim:
        raise StylexError(f"classifier {clf_path} has {classifier.num_classes} classes but the generator of "
                          f"{checkpoint} is conditioned on {G.c_dim}; pass the classifier it was trained with")
    if trained.classifier_fingerprint and classifier.fingerprint != trained.classifier_fingerprint:
        raise StylexError(f"classifier {clf_path} is not the one {checkpoint} was trained with (its weights "
                          "differ); AttFind explains the classifier the generator was trained for")
    return data, dataset, clf_path, classifier


def records_meta(request: AttFindRequest, checkpoint: Path, clf_path, classifier, data, dataset):
    """The provenance written into the records file."""
    from stylex.attfind.context import file_sha256, recorded_paths
    from stylex.attfind.records import RecordsMeta

    world = dataset.meta.get("world")
    return RecordsMeta(
        **recorded_paths("checkpoint", checkpoint, request.out), checkpoint_sha256=file_sha256(checkpoint),
        **recorded_paths("classifier", clf_path, request.out), classifier_fingerprint=classifier.fingerprint,
        data=str(data), split=request.split, seed=request.seed,
        world=None if not world else {"label": dataset.meta.get("label_factor"),
                                      "shortcut": (world.get("shortcut") or {}).get("factor")},
    )


def _merge_shards(out: Path, info) -> Any:
    """Under torchrun: wait for every shard, merge them on the main process (None elsewhere)."""
    import torch.distributed as dist

    from stylex.attfind import merge_records, shard_path

    dist.barrier()
    if not info.is_main:
        return None
    shards = [shard_path(out, r, info.world_size) for r in range(info.world_size)]
    records = merge_records(shards, out)
    for s in shards:
        s.unlink()
    return records


def attfind(request: AttFindRequest | None = None, /, *, log=print, **kwargs) -> AttFindResult:
    """AttFind records for a seeded sample of images (resumable), then the attribute selection
    (attributes.json beside the records); what `stylex attfind` runs. Under torchrun each process
    computes a shard and the main process merges them.

    Args:
        request: an AttFindRequest, or its fields as keyword arguments.
        log: prints notes (main process only).
    """
    from stylex.attfind import AnalysedImages, AttFindNetworks, EditSpec, RecordsOptions, compute_records, shard_path
    from stylex.attfind.methods import effect_method
    from stylex.attfind.selection import SelectionOptions
    from stylex.classifiers import check_finite_outputs, class_names_for
    from stylex.runtime import check_writable_dir
    from stylex.training.checkpoint import load_trained, resolve_checkpoint
    from stylex.training.distributed import init_distributed, shutdown

    request = request if request is not None else AttFindRequest(**kwargs)
    options = request.selection or SelectionOptions()
    if not request.run:
        raise StylexError("give the trained model: --run RUN_DIR or --checkpoint FILE")
    if not request.out:
        raise StylexError("--out is required: the records file to write, e.g. RUN_DIR/attfind/records.h5")
    out = Path(request.out)
    info = init_distributed(request.device)
    try:
        check_writable_dir(out.resolve().parent, "--out")
        checkpoint = resolve_checkpoint(request.run)
        trained = load_trained(checkpoint, info.device)
        check_top_k(options.top_k, trained.G.stylespace(include_torgb=request.include_torgb).size)
        data, dataset, clf_path, classifier = _attfind_inputs(request, trained, checkpoint, info.device)
        if len(dataset) < request.num_images and info.is_main:
            log(f"note: the {request.split} split has {len(dataset)} images; analysing all of them")
        images, labels, index = sample_images(dataset, request.num_images, request.seed)
        check_finite_outputs(classifier, images, [dataset.paths[i] for i in index])
        meta = records_meta(request, checkpoint, clf_path, classifier, data, dataset)
        disc = (_discriminator_scorer(checkpoint, trained.net_config, info.device)
                if request.discriminator_score else None)
        records = compute_records(
            shard_path(out, info.rank, info.world_size) if info.enabled else out,
            AttFindNetworks(trained.G, trained.E, classifier, disc),
            AnalysedImages(images, labels, index, class_names_for(classifier, dataset.class_names)),
            EditSpec.for_generator(trained.G, request.include_torgb, shift=request.shift),
            effect_method(request.method, batch=request.batch, precision=request.precision,
                          **({"candidates": request.candidates} if request.candidates else {})),
            RecordsOptions(conditioning=trained.conditioning, batch=request.batch, device=info.device,
                           meta=meta.to_dict(), shard=(info.rank, info.world_size), overwrite=request.overwrite,
                           progress=info.is_main and request.progress),
        )
        if info.enabled:
            records = _merge_shards(out, info)
            if records is None:
                return AttFindResult(out, main_process=False)
        result = AttFindResult(out, main_process=True, records=records)
        if records.complete:
            chosen = select(out, options)
            result.selection, result.attributes_path = chosen.selection, chosen.attributes_path
        return result
    finally:
        shutdown(info)


def select(records, options=None, out: str | Path | None = None) -> SelectResult:
    """Steps B-E on a records file (or loaded Records): the selection, written to `out` (default:
    attributes.json beside the records); what `stylex attfind select` runs."""
    from stylex.attfind import attributes_path, load_records, save_selection, select_from_records
    from stylex.attfind.selection import SelectionOptions

    options = options or SelectionOptions()
    records = load_records(Path(records)) if isinstance(records, (str, Path)) else records
    check_top_k(options.top_k, records.space.size)
    selection = select_from_records(records, options)
    path = save_selection(selection, out or attributes_path(records.path), records_path=Path(records.path).name)
    return SelectResult(selection, Path(path))


# -- explain and evaluate ------------------------------------------------------------------------


def _context(source, device, checkpoint=None, classifier=None, attributes=None):
    """An AttFindContext from a records path, an AttFindResult or a context."""
    from stylex.attfind import AttFindContext, load_context
    from stylex.runtime import resolve_device

    if isinstance(source, AttFindContext):
        return source
    if isinstance(source, AttFindResult):
        source = source.records_path
    if source is None:
        raise StylexError("give the records file written by `stylex attfind` (--records)")
    return load_context(source, resolve_device(str(device)), checkpoint, classifier, attributes)


@dataclass
class ExplainResult:
    index: Path  # index.html, beside the figures
    attributes: int  # how many attributes were drawn


def explain(records, out: str | Path, *, top_k: int = 10, examples: int = 4, images: int = 6, gif_frames: int = 16,
            min_change: float = 0.2, checkpoint=None, classifier=None, attributes=None, batch: int = 64,
            device: str = "auto", progress: bool = True) -> ExplainResult:
    """Figures of an AttFind result (panels, GIFs, summary, per-image, index.html); what `stylex
    explain` runs.

    Args:
        records: the records file, an AttFindResult or a loaded AttFindContext.
        out: folder for the figures.
        checkpoint, classifier, attributes: new locations of the recorded files (fingerprints checked).
        Others: as the `stylex explain` flags of the same names.
    """
    from stylex.visualize import write_explanations

    ctx = _context(records, device, checkpoint, classifier, attributes)
    index = write_explanations(ctx.editor(batch), ctx.selection, out, top_k=top_k, n_examples=examples,
                               n_images=images, gif_frames=gif_frames, min_change=min_change, progress=progress)
    return ExplainResult(Path(index), min(top_k, len(ctx.selection.attributes)))


@dataclass
class EvaluationResult:
    what: str  # the evaluation's one name (stylex.evaluate.EVALUATIONS)
    values: dict  # the JSON-ready result; values["what"] == what
    path: Path | None = None  # where it was written, if anywhere


def evaluate(what: str, records=None, *, top_k: int = 10, batch: int = 64, seeds: int = 5, other_records=None,
             runs: dict | None = None, factors: dict | str | None = None, oracle=None, checkpoint=None,
             classifier=None, attributes=None, data: str | None = None, num_images: int = 256, samples: int = 256,
             device: str = "auto", out: str | Path | None = None) -> EvaluationResult:
    """Measure an AttFind result or a trained model; what `stylex evaluate` runs.

    Args:
        what: a name of `stylex.evaluate.EVALUATIONS` (sufficiency, baselines, specificity,
            reconstruction, condition, ground_truth, fidelity).
        records: the records file, an AttFindResult or a loaded AttFindContext (all but fidelity).
        other_records: specificity: the other run's records (or `runs`: name -> context).
        factors: ground_truth: role -> world factor, or one factor (default: the world's label and shortcut).
        oracle: ground_truth: a FactorOracle or its weights file (default: the packaged one).
        checkpoint, classifier: fidelity: the run and its classifier; otherwise new locations of
            the recorded files.
        data, num_images, samples: fidelity: the world, its test faces and noise samples.
        out: also write the JSON result here.
    """
    import json

    from stylex.evaluate import EvaluationInputs, evaluation
    from stylex.runtime import atomic_write_bytes, resolve_device

    entry = evaluation(what)
    dev = resolve_device(str(device))
    inputs = EvaluationInputs(top_k=top_k, batch=batch, seeds=seeds, runs=runs, oracle=oracle, device=dev,
                              factors={"expected": factors} if isinstance(factors, str) else factors,
                              checkpoint=checkpoint, classifier=classifier, data=data, num_images=num_images,
                              samples=samples)
    if entry.needs_records and (records is not None or runs is None):  # `runs` stands in for specificity's
        if records is None:
            raise StylexError(f"{entry.name} needs --records (a records file written by `stylex attfind`)")
        inputs.context = _context(records, dev, checkpoint, classifier, attributes)
        if other_records is not None and runs is None:
            inputs.runs = {"A": inputs.context, "B": _context(other_records, dev)}
    values = entry.fn(inputs)
    if entry.name == "specificity" and other_records is not None and runs is None:
        values["runs"] = {"A": _name(records), "B": _name(other_records)}
    if inputs.context is not None:
        values = {**values, "records": _name(records)}
    path = None
    if out:
        atomic_write_bytes(out, (json.dumps(values, indent=2) + "\n").encode())
        path = Path(out)
    return EvaluationResult(entry.name, values, path)


def _name(records) -> str:
    """How a result names the records it measured."""
    if isinstance(records, (str, Path)):
        return str(records)
    if isinstance(records, AttFindResult):
        return str(records.records_path)
    return str(records.records.path)
