"""`stylex demo`: the whole method end to end on the synthetic world, in one command.

Two classifiers of the world's `smile` label are explained: a *clean* one, trained where every
factor is independent, and a *shortcut* one, trained where the background colour always agrees
with the label (so it may read the background instead of the mouth). For each, StylEx is trained
on the clean world, AttFind finds its attributes, and the figures, the evaluation numbers
(sufficiency against random and Wu et al. baselines, classifier-specificity between the two runs,
ground-truth recovery read by the factor oracle) and one report page are written. The shipped
300-kimg models of a clean and a shortcut smile classifier (SHIPPED_PAIR) are measured and drawn beside them.

Every stage calls the same functions a user would (`stylex.api`, which the sub-commands call too);
this module only chooses sizes, runs the stages in order, and writes `report.html` and `summary.json`.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from stylex.config import PRESETS
from stylex.errors import StylexError
from stylex.shipped import find_shipped, shipped_dir

LABEL = "smile"
SHORTCUT = ("background", 1.0)  # at 0.95 a small CNN still reads the (easy) mouth; at 1.0 it may not
RUNS = ("clean", "shortcut")
# Both StylEx runs are the cpu-32 preset's, shortened to the demo's budget (docs/FIDELITY.md section
# 4: with a 20-kimg warm-up the clean run's top attribute is the smile on every seed; with the
# preset's condition swap and conv-only condition, row D6, the specificity diagonal is larger on
# every seed), and its condition sparsity, channels and resolution are flags of the demo.
CONDITION_SPARSITY = PRESETS["cpu-32"].schedule["condition_sparsity"]
CONDITION_CHANNELS = PRESETS["cpu-32"].network.condition_channels
CONDITION_RESOLUTION = PRESETS["cpu-32"].network.condition_resolution
# The shipped demo model (models/README.md): classifier, inference-only StylEx checkpoint, AttFind result.
SHIPPED_DIR = shipped_dir()  # $STYLEX_MODELS or the source checkout's models/ (stylex/shipped.py)
# The shipped 300-kimg models of a clean and a shortcut smile classifier (models/README.md), which the report sets
# beside the demo's 50-kimg runs: at that budget single coordinates also explain the shortcut one.
SHIPPED_PAIR = {"clean": "world-smile", "shortcut": "world-shortcut"}
SHIPPED_TOP_K = 3  # attributes shown and evaluated for the shipped pair (each costs seconds of the demo)


@dataclass(frozen=True)
class DemoSizes:
    """How much the demo computes (the default sizes were chosen by timing on a 2-core CPU)."""

    world_images: int  # faces in each world (80 / 10 / 10 % train / val / test)
    classifier_epochs: int  # epochs of each classifier
    kimg: float  # StylEx training length per run, thousands of images (the warm-up included)
    warmup_kimg: float  # of which the autoencoder warm-up (TrainingConfig.warmup_kimg)
    metrics_images: int  # held-out images of StylEx's final metrics
    attfind_images: int  # test images AttFind analyses per run
    top_k: int  # attributes shown and evaluated
    examples: int  # image pairs per direction in the attribute panels
    explained_images: int  # per-image explanation figures per run
    gif_frames: int  # frames of each attribute animation
    random_seeds: int  # draws averaged by the random baseline


DEFAULT_SIZES = DemoSizes(world_images=3000, classifier_epochs=2, kimg=50.0, warmup_kimg=20.0, metrics_images=256,
                          attfind_images=32, top_k=6, examples=4, explained_images=4, gif_frames=12, random_seeds=5)
QUICK_SIZES = DemoSizes(world_images=300, classifier_epochs=1, kimg=0.05, warmup_kimg=0.02, metrics_images=32,
                        attfind_images=3, top_k=2, examples=1, explained_images=1, gif_frames=3, random_seeds=1)


class Stages:
    """Prints one line when each stage starts and ends, with its own and the total elapsed time."""

    def __init__(self, total: int, log=print):
        self.total, self.log, self.count = total, log, 0
        self.start = time.perf_counter()
        self.times: dict[str, float] = {}

    def run(self, title: str, fn, *args, **kwargs):
        self.count += 1
        self.log(f"[{self.count}/{self.total}] {title} ...", flush=True)
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        took = time.perf_counter() - t0
        self.times[title] = round(took, 1)
        self.log(f"[{self.count}/{self.total}] {title}: done in {took:.0f} s "
                 f"(total {time.perf_counter() - self.start:.0f} s)", flush=True)
        return result


def _make_worlds(out: Path, sizes: DemoSizes, seed: int) -> dict[str, Path]:
    from stylex.world import generate_world

    worlds = {"clean": out / "world", "shortcut": out / "world-shortcut"}
    for name, path in worlds.items():
        if not (path / "world.json").exists():
            shortcut = f"{SHORTCUT[0]}:{SHORTCUT[1]}" if name == "shortcut" else None
            generate_world(path, sizes.world_images, resolution=32, label=LABEL, shortcut=shortcut, seed=seed)
    return worlds


def _train_classifier(world: Path, test_world: Path, out: Path, sizes: DemoSizes, seed: int, device: str) -> dict:
    """Train one classifier on `world` and measure it on `test_world`'s test split, where the
    background is independent of the label (a background reader is caught there)."""
    from stylex.classifiers import evaluate_classifier, load_classifier, train_classifier
    from stylex.datasets import open_dataset

    report = train_classifier(str(world), 32, out, epochs=sizes.classifier_epochs, device=device, seed=seed)
    clf = load_classifier(out, device)
    test = evaluate_classifier(clf, open_dataset(str(test_world), 32, "test"), device=device)
    background = open_dataset(f"world:{test_world}:{SHORTCUT[0]}", 32, "test")
    return {"file": out.name, "trained_on": world.name, "own_test_accuracy": report["test_accuracy"],
            "independent_test_accuracy": test["accuracy"], "shortcut_test": test.get("shortcut"),
            "agreement_with_background": evaluate_classifier(clf, background, device=device)["accuracy"]}


def _train_stylex(run: Path, world: Path, classifier: Path, sizes: DemoSizes, seed: int, device: str,
                  conditioning: dict) -> None:
    from stylex import api

    snap = max(sizes.kimg, 0.01)
    api.train(out=run, data=str(world), classifier=str(classifier), preset="cpu-32", kimg=sizes.kimg,
              warmup_kimg=sizes.warmup_kimg, metrics_images=sizes.metrics_images, metrics_every_kimg=0.0,
              snap_kimg=snap, sample_every_kimg=snap, keep_checkpoints=1, seed=seed, device=device, force=True,
              **conditioning)


def _attfind(run: Path, sizes: DemoSizes, seed: int, device: str) -> Path:
    from stylex import api
    from stylex.attfind import SelectionOptions

    result = api.attfind(out=run / "attfind" / "records.h5", run=run, num_images=sizes.attfind_images, seed=seed,
                         device=device, overwrite=True, selection=SelectionOptions(top_k=max(sizes.top_k, 10)))
    if not result.complete:
        raise StylexError(f"AttFind of {run} did not finish")
    return result.records_path


def _explain(ctx, out: Path, sizes: DemoSizes) -> Path:
    from stylex import api

    return api.explain(ctx, out, top_k=sizes.top_k, examples=sizes.examples, images=sizes.explained_images,
                       gif_frames=sizes.gif_frames).index


def _layer_figure(ctx, result: dict, out: Path, sizes: DemoSizes) -> Path:
    """The strongest layer direction as [original | moved] pairs (stylex.visualize.layer_direction_figure)."""
    from stylex.visualize import layer_direction_figure

    path = out / "layer_direction.png"
    layer_direction_figure(ctx.editor(), result["layer_directions"]["top1_layer"], n=sizes.examples).save(path)
    return path


def _evaluate(ctx, sizes: DemoSizes, oracle, world: Path, classifier: Path) -> dict:
    from stylex import api
    from stylex.evaluate import fidelity_of_run

    return {
        **_evaluate_attributes(ctx, sizes, oracle),
        "reconstruction": api.evaluate("reconstruction", ctx, top_k=sizes.top_k, device=ctx.device).values,
        "fidelity": fidelity_of_run(ctx.checkpoint, classifier, str(world),
                                    sizes.metrics_images, sizes.metrics_images, device=ctx.device),
    }


def _evaluate_attributes(ctx, sizes: DemoSizes, oracle) -> dict:
    """What the report says of a run's attributes: sufficiency against the baselines, the factors
    their edits change, and the layer directions."""
    from stylex import api

    def measure(what, **kwargs):
        return api.evaluate(what, ctx, top_k=sizes.top_k, device=ctx.device, **kwargs).values

    return {
        "baselines": measure("baselines", seeds=sizes.random_seeds),
        "ground_truth": measure("ground_truth", oracle=oracle, factors={"label": LABEL, "shortcut": SHORTCUT[0]}),
        "layer_directions": measure("layer_directions", oracle=oracle, seeds=sizes.random_seeds),
    }


def _shipped_pair(out: Path, sizes: DemoSizes, oracle, device: str) -> dict:
    """The shipped 300-kimg models (SHIPPED_PAIR) measured and drawn as the demo's runs are, from
    their AttFind records; {"missing": why} where they are not found (e.g. a wheel install)."""
    from stylex.attfind import load_context

    try:
        folders = {run: find_shipped(name) for run, name in SHIPPED_PAIR.items()}
    except StylexError as e:
        return {"missing": str(e)}
    contexts = {run: load_context(folder / "attfind" / "records.h5", device) for run, folder in folders.items()}
    runs = {}
    # The top 3 say whether the shortcut is named (docs/SHORTCUT.md); one random draw on 100 images is enough.
    sizes = replace(sizes, top_k=min(sizes.top_k, SHIPPED_TOP_K), random_seeds=1)
    for run, ctx in contexts.items():
        _explain(ctx, out / "shipped" / run, sizes)
        runs[run] = {"model": str(folders[run]),
                     "attributes": [_attribute_row(a, ctx.selection.class_names)
                                    for a in ctx.selection.attributes[: sizes.top_k]],
                     **_evaluate_attributes(ctx, sizes, oracle)}
    return {"top_k": sizes.top_k, "runs": runs, "specificity": _specificity(contexts, sizes.top_k)}


def _specificity(contexts: dict, top_k: int) -> dict:
    from stylex import api

    return api.evaluate("specificity", runs=contexts, top_k=top_k).values


def _curve_plot(results: dict, path: Path) -> Path:
    """Flip rate as k grows for each run: AttFind against the random and Wu baselines."""
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    fig = Figure(figsize=(4.2 * len(results), 3.2))
    axes = fig.subplots(1, len(results), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items()):
        b = res["baselines"]
        for method, style in (("attfind", "o-"), ("wu", "s--"), ("random", "^:")):
            curve = b[method]["curve"]
            ax.plot([p["k"] for p in curve], [p["flip_rate"] for p in curve], style, label=method)
        ax.set_title(f"{name} classifier")
        ax.set_xlabel("k (attributes changed together)")
        ax.set_ylabel("flip rate")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def run_demo(out_dir: str | Path = "demo_out", quick: bool = False, seed: int = 0, device: str = "auto",
             condition_sparsity: float = CONDITION_SPARSITY, condition_channels: int = CONDITION_CHANNELS,
             condition_resolution: int = CONDITION_RESOLUTION, warmup_kimg: float | None = None,
             log=print) -> Path:
    """Run the demo and return the path of its report.html.

    Args:
        out_dir: folder for everything (worlds, classifiers, runs, figures, report.html, summary.json);
            worlds already there are reused, everything else is recomputed.
        quick: tiny sizes (a minute or two; every stage runs, the numbers mean little).
        seed: seed of every stage.
        device: auto, cpu, cuda or cuda:<index>.
        condition_sparsity: `TrainingConfig.condition_sparsity` of both StylEx runs (0: off).
        condition_channels: `NetworkConfig.condition_channels` of both StylEx runs (0: every channel).
        condition_resolution: `NetworkConfig.condition_resolution` of both StylEx runs (0: every resolution).
        warmup_kimg: the autoencoder warm-up of both runs, of their `DemoSizes.kimg` (None: the sizes').
        log: prints the stage lines.
    """
    import torch

    from stylex.attfind import load_context
    from stylex.oracle import load_oracle
    from stylex.runtime import resolve_device

    sizes = QUICK_SIZES if quick else DEFAULT_SIZES
    conditioning = {"condition_sparsity": condition_sparsity, "condition_channels": condition_channels,
                    "condition_resolution": condition_resolution}
    # An impossible network is refused here, before the worlds and classifiers take their minutes.
    replace(PRESETS["cpu-32"].network, condition_channels=condition_channels,
            condition_resolution=condition_resolution).validate()
    if warmup_kimg is not None:
        if not 0 <= warmup_kimg <= sizes.kimg:
            raise StylexError(f"--warmup-kimg {warmup_kimg:g}: must lie between 0 and the runs' {sizes.kimg:g} kimg")
        sizes = replace(sizes, warmup_kimg=warmup_kimg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = str(resolve_device(device))
    if dev == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
    stages = Stages(total=4 + 5 * len(RUNS), log=log)  # worlds, 5 per run, specificity, shipped pair, report
    log(f"stylex demo ({'quick' if quick else 'default'} sizes) on {dev} -> {out}")
    worlds = stages.run("synthetic worlds (clean, and background shortcut)", _make_worlds, out, sizes, seed)
    classifiers = {}
    for name in RUNS:
        classifiers[name] = stages.run(f"{name} smile classifier", _train_classifier, worlds[name], worlds["shortcut"],
                                       out / f"{name}.pt", sizes, seed, dev)
    records = {}
    for name in RUNS:
        run = out / "runs" / name
        length = f"{sizes.kimg:g} kimg, {sizes.warmup_kimg:g} of them warm-up"
        stages.run(f"StylEx for the {name} classifier ({length})", _train_stylex, run, worlds["clean"],
                   out / f"{name}.pt", sizes, seed, dev, conditioning)
        records[name] = stages.run(f"AttFind for the {name} classifier ({sizes.attfind_images} images)", _attfind,
                                   run, sizes, seed, dev)
    contexts = {name: load_context(path, dev) for name, path in records.items()}
    oracle = load_oracle(device=dev)
    results = {}
    for name, ctx in contexts.items():
        stages.run(f"figures and GIFs for the {name} classifier", _explain, ctx, out / "runs" / name / "explain", sizes)
        results[name] = stages.run(f"evaluation of the {name} classifier's attributes", _evaluate, ctx, sizes, oracle,
                                   worlds["clean"], out / f"{name}.pt")
        _layer_figure(ctx, results[name], out / "runs" / name / "explain", sizes)
    specificity = stages.run("classifier-specificity (2 x 2)", _specificity, contexts, sizes.top_k)
    shipped = stages.run("the shipped 300-kimg clean and shortcut models", _shipped_pair, out, sizes, oracle, dev)
    if "missing" in shipped:
        log(f"  (skipped: {shipped['missing']})")
    summary = {"quick": quick, "seed": seed, "device": dev, "sizes": asdict(sizes),
               **conditioning,
               "shortcut": {"factor": SHORTCUT[0], "agreement_in_training": SHORTCUT[1]},
               "classifiers": classifiers, "runs": {}, "specificity": specificity, "shipped": shipped,
               "stage_seconds": stages.times}
    for name in RUNS:
        summary["runs"][name] = {"records": str(records[name].relative_to(out)),
                                 "attributes": [_attribute_row(a, contexts[name].selection.class_names)
                                                for a in contexts[name].selection.attributes[: sizes.top_k]],
                                 **results[name]}
    report = stages.run("report", _write_report, out, summary, _curve_plot(results, out / "sufficiency.png"))
    summary["stage_seconds"] = stages.times
    summary["total_seconds"] = round(time.perf_counter() - stages.start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log(f"demo finished in {summary['total_seconds']:.0f} s. Open the report: {report.resolve()}")
    log(f"all numbers: {(out / 'summary.json').resolve()}")
    return report


def load_shipped(device: str = "cpu", folder: str | Path | None = None):
    """The AttFind context (records, G, classifier, attributes) of the shipped demo model, from
    `folder`, else $STYLEX_MODELS, else the source checkout's models/ (`stylex.shipped.find_shipped`)."""
    from stylex.attfind import load_context

    folder = find_shipped(path=folder)
    records = folder / "attfind" / "records.h5"
    return load_context(records, device, checkpoint=folder / "stylex.pt", classifier=folder / "classifier.pt")


def _attribute_row(a, class_names: list[str]) -> dict:
    return {"rank": a.rank, "name": a.name, "direction": "to_max" if a.direction else "to_min",
            "toward": class_names[a.toward_class], "score": a.score, "images_moved": a.images_moved}


# -- the report page ----------------------------------------------------------------------------


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _classifier_section(summary: dict) -> str:
    rows = []
    for name, c in summary["classifiers"].items():
        sc = c.get("shortcut_test") or {}
        rows.append([name, html.escape(c["trained_on"]), _pct(c["independent_test_accuracy"]),
                     _pct(sc.get("accuracy_when_agrees")), _pct(sc.get("accuracy_when_disagrees")),
                     _pct(c["agreement_with_background"])])
    return _table(["classifier", "trained on", "smile accuracy (independent test)",
                   "... where background agrees", "... where it disagrees",
                   "agreement with background (warm = smile)"], rows)


def _attribute_table(run: dict, figures: str) -> str:
    """The run's top attributes, each with the factor its edit changes and its animation (in `figures`)."""
    gt = {a["rank"]: a for a in run["ground_truth"]["attributes"]}
    rows = []
    for a in run["attributes"]:
        g = gt.get(a["rank"], {})
        change = g.get("factor_change", {})
        dom = g.get("dominant_factor") or ""
        rows.append([str(a["rank"]), html.escape(a["name"]), a["direction"].replace("_", " "), html.escape(a["toward"]),
                     f"{a['score']:+.2f}", str(a["images_moved"]), f"<b>{html.escape(dom)}</b> "
                     f"({change.get(dom, 0):.2f})",
                     f"<img src='{figures}/attribute_{a['rank']:02d}.gif' height='72'>"])
    return _table(["#", "coordinate", "direction", "pushes toward", "score", "images moved", "factor it changes",
                   "animation"], rows)


def _specificity_table(spec: dict, top_k: int) -> str:
    rows = [[f"top-{top_k} attributes of the {x} run"] + [_pct(spec["matrix"][x][y]) for y in RUNS] for x in RUNS]
    rows += [[f"strongest layer direction of the {x} run ({html.escape(str(spec['top_layers'][x]))})"]
             + [_pct(spec["layer_matrix"][x][y]) for y in RUNS] for x in RUNS]
    return _table([""] + [f"judged by the {y} classifier" for y in RUNS], rows)


def _run_section(name: str, run: dict, top_k: int) -> str:
    base = f"runs/{name}"
    b, rec = run["baselines"], run["reconstruction"]
    fd_name = "fid" if "fid" in rec else "fd_classifier"
    recovery = run["ground_truth"].get("recovery_label", {}).get("at_k", [])
    recovery_sc = run["ground_truth"].get("recovery_shortcut", {}).get("at_k", [])
    ld = run["layer_directions"]
    top_layer = ld["layers"][0] if ld["layers"] else {}
    return f"""
<h2>The {name} classifier</h2>
<p>StylEx's last sample grid: the first rows are random samples, then pairs of a held-out face and
its reconstruction, each with the classifier's decision and probability:</p>
<img src='{base}/samples/latest.png' style='max-width:100%' onerror="this.style.display='none'">
<h3>Its top attributes</h3>
<p>Each row of the summary shows [original | changed] pairs: one StyleSpace coordinate is moved
toward the class named on the left, and the number under each image is the classifier's
probability of that class. The animations sweep the coordinate on a few faces. The factor column
is what the factor oracle says the edit changes (mean change of its prediction, 0 to 1).</p>
{_attribute_table(run, f"{base}/explain")}
<p><a href='{base}/explain/index.html'>All figures of this run</a> (panels, GIFs, per-image explanations).</p>
<img src='{base}/explain/summary.png' style='max-width:100%'>
<h3>Its numbers</h3>
<ul>
<li><b>Sufficiency</b>: changing the top-{top_k} attributes together flips
  <b>{_pct(b['attfind']['flip_rate'])}</b> of {b['n_images']} decisions; {top_k} random coordinates flip
  {_pct(b['random']['flip_rate'])} and Wu et al.'s most class-separating coordinates flip
  {_pct(b['wu']['flip_rate'])}.</li>
<li><b>Ground truth</b>: recovery@k of the label factor (smile):
  {', '.join(f"k={p['k']}: {p['recovery']:.2f}" for p in recovery) or 'n/a'}; of the shortcut factor
  (background): {', '.join(f"k={p['k']}: {p['recovery']:.2f}" for p in recovery_sc) or 'n/a'}. Recovery@k
  is the share of the top-k attributes whose main change, as the factor oracle reads the edited
  faces, is that factor: 1 means the explanation names what the classifier really uses.</li>
<li><b>Fidelity</b> (what a person sees; the factor oracle reads every world factor on a held-out
  face and on its reconstruction): {', '.join(f"{k} {_pct(v)}" for k, v in run['fidelity']['factor_fidelity'].items())}
  of {run['fidelity']['num_images']} faces keep their value. Classifier agreement alone can be met by
  changes nobody sees; these numbers cannot.</li>
<li><b>Layer by layer</b> (an extension beside AttFind, not the paper's method): each style layer
  moved by the difference of its mean styles between the classifier's two classes. The strongest,
  <b>{html.escape(str(ld['top1_layer']))}</b>, flips {_pct(top_layer.get('flip_rate'))} of the decisions
  (a random direction of the same length in that layer: {_pct(top_layer.get('random_flip_rate'))}) and
  changes mainly the <b>{html.escape(ld['top1_dominant_factor'] or 'no factor')}</b>:<br>
  <img src='{base}/explain/layer_direction.png' style='max-width:100%'><br>
  {_table(["layer", "flip rate", "random direction", "factor it changes"],
          [[html.escape(e['layer']), _pct(e['flip_rate']), _pct(e['random_flip_rate']),
            html.escape(e.get('dominant_factor') or '')] for e in ld['layers'][:4]])}
  One StyleSpace coordinate cannot carry a cue that a layer spreads over its channels (in the
  shortcut run, the background colour lives in the last toRGB layer), which single-coordinate
  AttFind then misses; this view shows where it lives.</li>
<li><b>Reconstruction</b>: the classifier agrees with itself on {_pct(rec['agreement'])} of the
  reconstructions (KL {rec['kl']:.3f}, L1 {rec['l1']:.3f}, {fd_name} {rec[fd_name]:.2f}); the counterfactuals'
  {fd_name} as k grows: {', '.join(f"{p[fd_name]:.2f}" for p in rec.get('counterfactual_curve', []))}.</li>
</ul>
"""


def _findings(runs: dict, specificity: dict, top_k: int) -> str:
    """What was found, in words: each run's top attribute and strongest layer direction, by the
    factor the oracle says they change, and whether classifier-specificity has a larger diagonal."""
    items = []
    for name in RUNS:
        run = runs[name]
        top = run["ground_truth"].get("top1_dominant_factor") or "nothing"
        layer = run["layer_directions"]
        first = layer["layers"][0] if layer["layers"] else {}
        strongest = html.escape(str(layer["top1_layer"]))
        factor = html.escape(layer["top1_dominant_factor"] or "no factor")
        layers = (f"the strongest layer direction ({strongest}, flip rate {_pct(first.get('flip_rate'))}) changes "
                  f"mainly the <b>{factor}</b>" if first.get("flip_rate") else "no layer direction flips any decision")
        flips = _pct(run["baselines"]["attfind"]["flip_rate"])
        items.append(f"<li>The <b>{name}</b> classifier: AttFind's top attribute changes mainly the "
                     f"<b>{html.escape(top)}</b> (its top-{top_k} attributes together flip {flips} "
                     f"of the decisions); {layers}.</li>")
    for key, what in (("matrix", f"top-{top_k} AttFind attributes"), ("layer_matrix", "strongest layer directions")):
        diagonal = [specificity[key][x][x] for x in RUNS]
        off = [specificity[key][x][y] for x in RUNS for y in RUNS if x != y]
        larger = diagonal_is_larger(specificity[key])
        items.append(f"<li>Classifier-specificity of the {what}: those of the {' and '.join(RUNS)} runs flip "
                     f"their own run's classifier's decisions {' and '.join(_pct(v) for v in diagonal)} of the time, "
                     f"the other run's classifier's {' and '.join(_pct(v) for v in off)}: the diagonal is "
                     f"{'larger than' if larger else '<b>not</b> larger than'} the off-diagonal.</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _shipped_section(shipped: dict) -> str:
    """The shipped 300-kimg pair, measured as the demo's runs are (or why it is missing)."""
    title = "<h2>At six times the budget: the shipped models</h2>"
    if "missing" in shipped:
        return f"{title}<p>Not shown: {html.escape(shipped['missing'])}.</p>"
    models = " and ".join(f"<code>{html.escape(r['model'])}</code>" for r in shipped["runs"].values())
    tables = "".join(f"<h3>The shipped {name} model's top attributes</h3>{_attribute_table(run, f'shipped/{name}')}"
                     f"<img src='shipped/{name}/summary.png' style='max-width:100%'>"
                     for name, run in shipped["runs"].items())
    return f"""{title}
<p>StylEx models of a clean and a background-shortcut smile classifier like the two above (trained
on 10,000-face worlds), each trained for 300 thousand images with the <code>cpu-32</code> preset (about
28 minutes each on a 2-core CPU; models/README.md says how): {models}. They were not trained by
this demo; their AttFind records are measured here exactly as the demo's runs are.
At 50 thousand images the shortcut classifier's decision is spread over many StyleSpace
coordinates, each too weak to be one attribute; at 300 the generator draws it with a few.</p>
{_findings(shipped['runs'], shipped['specificity'], shipped['top_k'])}
{tables}
{_specificity_table(shipped['specificity'], shipped['top_k'])}"""


def diagonal_is_larger(matrix: dict) -> bool:
    """Whether every run's attributes flip its own classifier more often than any run's flip another's."""
    off = [matrix[x][y] for x in matrix for y in matrix[x] if x != y]
    return min(matrix[x][x] for x in matrix) > max(off, default=0.0)


def _write_report(out: Path, summary: dict, curve_png: Path) -> Path:
    """report.html: what was explained, the attributes as pictures, the numbers and what they mean."""
    import shutil

    for name in RUNS:  # the newest sample grid under a fixed name, for the page
        samples = sorted((out / "runs" / name / "samples").glob("*.png"))
        if samples:
            shutil.copyfile(samples[-1], out / "runs" / name / "samples" / "latest.png")
    top_k = summary["sizes"]["top_k"]
    quick_note = ("<p class='warn'>This is a <b>--quick</b> run: every stage ran, but with tiny sizes, so the "
                  "numbers and pictures mean little. Run <code>stylex demo</code> for the real demo.</p>"
                  if summary["quick"] else "")
    page = f"""<!doctype html><html><head><meta charset='utf-8'><title>stylex demo report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
.warn{{background:#fff3cd;padding:.5em}}</style></head><body>
<h1>stylex demo: explaining two smile classifiers</h1>
{quick_note}
<h2>What was explained</h2>
<p>The synthetic world draws cartoon faces from independent factors (smile, glasses, eye size,
hair colour, skin tone, background, pose). Two classifiers were trained to tell <b>frown</b> from
<b>smile</b>: the <b>clean</b> one on a world where every factor is independent, the <b>shortcut</b>
one on a world where the background is warm exactly when the face smiles (agreement
{_pct(summary['shortcut']['agreement_in_training'])}), so it can get every training face right by
reading the background. Both are measured on held-out test faces whose background is drawn independently of
the smile:</p>
{_classifier_section(summary)}
<img src='world/contact_sheet.png' height='260'>
<p>For each classifier, StylEx (a StyleGAN2 generator and encoder conditioned on the classifier's
output, {summary['sizes']['kimg']:g} thousand images of training) was trained on the clean world, and
AttFind searched its StyleSpace on {summary['sizes']['attfind_images']} test faces for the coordinates
that move the classifier's decision most.</p>
<h2>What it found</h2>
{_findings(summary['runs'], summary['specificity'], top_k)}
{''.join(_run_section(name, summary['runs'][name], top_k) for name in RUNS)}
<h2>Sufficiency against the baselines</h2>
<p>How often changing the top-k attributes together flips the classifier's decision, for k = 1..{top_k}.
AttFind's attributes should flip many more decisions than random coordinates, and at least as many
as Wu et al.'s coordinates (chosen by how differently they are distributed in the two classes,
without asking the classifier).</p>
<img src='{curve_png.name}' style='max-width:100%'>
<h2>Classifier-specificity</h2>
<p>Flip rate of each run's top-{top_k} attributes (applied with that run's generator and images) judged by
each classifier, and the same for each run's strongest layer direction (the extension above). If the
explanations are specific to their classifier, the diagonal is high and the off-diagonal lower: the
shortcut classifier's attributes (e.g. the background) need not move the clean classifier.</p>
{_specificity_table(summary['specificity'], top_k)}
{_shipped_section(summary['shipped'])}
<h2>Reproduce</h2>
<p><code>stylex demo{' --quick' if summary['quick'] else ''} --seed {summary['seed']}</code>; every number above
is in <a href='summary.json'>summary.json</a>. Stage times (s): {html.escape(json.dumps(summary['stage_seconds']))}</p>
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
