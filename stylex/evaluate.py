"""Measured numbers for an AttFind result (docs/METHOD.md section 5). Every function returns a
JSON-ready dict that states its sample size.

- `sufficiency`: change the top-k attributes together, each in the direction that pushes toward
  another class, and count the decisions that flip (curve for k = 1..top_k).
- `baselines`: the same on the same generator and images for k random coordinates and for Wu et
  al.'s StyleSpace detection (coordinates whose mean differs most between the classes, relative
  to their spread).
- `specificity`: attributes of run X applied to classifier Y, for two runs (AttFind's top-k, and
  the layer-direction extension's top attribute).
- `reconstruction`: agreement, KL, L1 and a Fréchet distance of the reconstructions, and the same
  distance for counterfactuals as k grows.
- `condition`: whether G takes the decision from the condition c, and over how many
  coordinates the condition's change is spread (a diagnostic when AttFind finds nothing).
- `ground_truth`: on the synthetic world, which factor each top attribute changes (by the factor
  oracle) and causal recovery@k.
- `fidelity`: on the synthetic world, whether reconstructions keep every factor (no records needed).
- `layer_directions`: an extension, not the paper's: whole style layers moved the way the
  classifier's classes differ, against random directions of the same length (where a cue spread
  over a layer's channels lives).

Each has one name: the function, its result's `what`, its `stylex evaluate` name and its entry
in `EVALUATIONS`, the registry the command and `stylex.api.evaluate` run (every entry takes one
`EvaluationInputs`).

Decisions are the classifier's on the reconstructions G(s), which is what every edit starts from.
A flip toward class y means the edited image's argmax is y. For two classes every image is pushed
toward the other class; for more, toward every other class, and rates are over (image, class) pairs.

Arguments shared by the functions below: `editor` (an `Editor`: renders and classifies the
records' images), `selection` (the attributes), `top_k` (how many attributes or coordinates are
changed together), `predicted` (the base decisions; computed when None), `seeds`/`seed` (random
draws averaged, and the first draw's seed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylex import maths
from stylex.attfind.editor import Editor
from stylex.attfind.selection import Edit, Selection
from stylex.runtime import in_batches, map_batches

# (target class, source class) -> edits, best first.
EditPicker = Callable[[int, int], list[Edit]]


def base_predictions(editor: Editor) -> np.ndarray:
    """The classifier's decisions on the reconstructions (with the editor's classifier)."""
    return editor.logits(editor.base_images()).argmax(1).numpy()


def _pairs(predicted: np.ndarray, num_classes: int) -> list[tuple[int, int, int]]:
    """(row, source, target) for every image and every class other than its own."""
    return [(r, int(p), y) for r, p in enumerate(predicted) for y in range(num_classes) if y != p]


def flip_curve(editor: Editor, pick: EditPicker, top_k: int = 10, predicted: np.ndarray | None = None) -> dict:
    """Flip rates for k = 1..top_k edits picked by `pick(target, source)`.

    Args:
        editor: renders and classifies.
        pick: the edits to apply toward `target` to an image of class `source`.
        top_k: the largest k.
        predicted: the base decisions (computed if not given).
    """
    predicted = base_predictions(editor) if predicted is None else predicted
    pairs = _pairs(predicted, editor.records.num_classes)
    groups: dict[tuple[int, int], list[int]] = {}
    for r, source, target in pairs:
        groups.setdefault((source, target), []).append(r)
    curve = []
    for k in range(1, top_k + 1):
        flips = 0
        for (source, target), rows in groups.items():
            edits = pick(target, source)[:k]
            logits = editor.logits(editor.render(editor.edited(rows, edits)))
            flips += int((logits.argmax(1).numpy() == target).sum())
        curve.append({"k": k, "flip_rate": flips / max(1, len(pairs)), "flips": flips})
    return {"flip_rate": curve[-1]["flip_rate"], "top_k": top_k, "curve": curve,
            "n_images": int(len(predicted)), "n_pairs": len(pairs)}


def sufficiency(editor: Editor, selection: Selection, top_k: int = 10, predicted=None) -> dict:
    """AttFind's sufficiency: the top-k selected attributes changed together."""
    def pick(target, source):
        return selection.edits_toward(target, source)

    return {"what": "sufficiency", **flip_curve(editor, pick, top_k, predicted)}


def _push_direction(editor: Editor, coordinates, target: int, source: int) -> list[Edit]:
    """For each coordinate, the direction whose mean recorded effect pushes class-`source` images
    most toward `target` (the same information AttFind uses, so baselines differ only in which
    coordinates they pick)."""
    rows = editor.records.predicted == source
    toward = editor.records.effect[rows][:, :, :, target].mean(axis=0) if rows.any() else np.zeros((2, 1))
    return [Edit(int(k), int(toward[:, k].argmax()) if rows.any() else 1) for k in coordinates]


def random_baseline(editor: Editor, top_k: int = 10, seeds: int = 5, seed: int = 0, predicted=None) -> dict:
    """k random coordinates (fresh draws per seed), each in its better direction."""
    predicted = base_predictions(editor) if predicted is None else predicted
    runs = []
    for s in range(seeds):
        coordinates = np.random.default_rng(seed + s).choice(editor.space.size, size=top_k, replace=False)
        runs.append(flip_curve(editor, lambda t, src, c=coordinates: _push_direction(editor, c, t, src),
                               top_k, predicted))
    curve = [{"k": k + 1, "flip_rate": float(np.mean([r["curve"][k]["flip_rate"] for r in runs]))}
             for k in range(top_k)]
    rates = [r["flip_rate"] for r in runs]
    return {"what": "random", "flip_rate": float(np.mean(rates)), "flip_rate_std": float(np.std(rates)),
            "per_seed": rates, "seeds": seeds, "top_k": top_k, "curve": curve,
            "n_images": runs[0]["n_images"], "n_pairs": runs[0]["n_pairs"]}


def wu_scores(styles: np.ndarray, predicted: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Wu et al.'s detection for class `target` vs the rest: |mean_target - mean_rest| / std over
    all images, per coordinate; and the direction (1: the target's mean is higher)."""
    inside, outside = styles[predicted == target], styles[predicted != target]
    if len(inside) == 0 or len(outside) == 0:
        return np.zeros(styles.shape[1]), np.ones(styles.shape[1], dtype=int)
    diff = inside.mean(axis=0) - outside.mean(axis=0)
    return np.abs(diff) / (styles.std(axis=0) + 1e-8), (diff > 0).astype(int)


def wu_baseline(editor: Editor, top_k: int = 10, predicted=None) -> dict:
    """Wu et al. StyleSpace attribute detection on the same generator and images."""
    predicted = base_predictions(editor) if predicted is None else predicted
    styles = editor.coordinate_values(np.arange(editor.num_images)).numpy()

    def pick(target, source):
        score, direction = wu_scores(styles, predicted, target)
        order = np.argsort(-score, kind="stable")[:top_k]
        return [Edit(int(k), int(direction[k])) for k in order]

    return {"what": "wu", **flip_curve(editor, pick, top_k, predicted)}


def baselines(editor: Editor, selection: Selection, top_k: int = 10, seeds: int = 5) -> dict:
    """AttFind, random and Wu et al. on the same generator, classifier and images."""
    predicted = base_predictions(editor)
    return {"what": "baselines", "top_k": top_k, "n_images": int(len(predicted)),
            "attfind": sufficiency(editor, selection, top_k, predicted),
            "random": random_baseline(editor, top_k, seeds, predicted=predicted),
            "wu": wu_baseline(editor, top_k, predicted)}


def specificity(runs: dict[str, tuple], top_k: int = 10) -> dict:
    """The matrix of flip rates of run X's attributes (its generator, images and selection) judged by
    run Y's classifier; and `layer_matrix`, the same for the layer-direction extension's top
    attribute: run X's strongest layer direction (`layer_directions` with X's classifier, named
    in `top_layers`) judged by Y's (`layer_transfer`).

    Args:
        runs: name -> (G, classifier, records, selection, device) for each run (two in the paper).
        top_k: attributes changed together.
    """
    matrix, layer_matrix, top_layers, sizes = {}, {}, {}, {}
    for x, (G, own, records, selection, device) in runs.items():
        own_editor = Editor(G, own, records, device)
        own_classes = base_predictions(own_editor)
        ranked = layer_directions(own_editor, seeds=0, top_k=0, predicted=own_classes)["layers"]  # ranking only
        top = ranked[0]["index"] if ranked else None
        top_layers[x] = ranked[0]["layer"] if ranked else None
        matrix[x], layer_matrix[x] = {}, {}
        for y, (_, classifier, *_rest) in runs.items():
            editor = Editor(G, classifier, records, device)
            result = sufficiency(editor, selection, top_k)
            matrix[x][y] = result["flip_rate"]
            layer_matrix[x][y] = layer_transfer(editor, [top], own_classes) if top is not None else 0.0
            sizes[x] = result["n_images"]
    return {"what": "specificity", "top_k": top_k, "rows": "attributes of run",
            "columns": "classifier of run", "matrix": matrix, "layer_matrix": layer_matrix,
            "top_layers": top_layers, "n_images": sizes}


def _frechet(real: torch.Tensor, fake: torch.Tensor, editor: Editor) -> tuple[str, float]:
    """Inception FID when its weights are available offline, else the Fréchet distance of the
    classifier's penultimate features (named so it is never mistaken for FID)."""
    if maths.inception_fid_available():
        return "fid", maths.inception_fid(real.to(editor.device), fake.to(editor.device))

    extract = getattr(editor.classifier, "features", editor.classifier)  # plain callables: their logits

    def features(images):
        with torch.no_grad():
            return map_batches(lambda x: extract(x.to(editor.device)).float().cpu(), images, editor.batch)

    return "fd_classifier", maths.frechet_distance(features(real), features(fake))


def reconstruction(editor: Editor, selection: Selection | None = None, top_k: int = 10) -> dict:
    """Reconstruction quality of the analysed images, and the Fréchet distance of counterfactuals
    (the top-k attributes applied, toward the other class) as k grows (k = 0 is the reconstructions)."""
    real = editor.real_images()
    rec = editor.base_images()
    real_logits, rec_logits = editor.logits(real), editor.logits(rec)
    name, fd = _frechet(real, rec, editor)
    out = {"what": "reconstruction", "n_images": len(real),
           "agreement": float((real_logits.argmax(1) == rec_logits.argmax(1)).float().mean()),
           "kl": float(maths.kl_divergence(real_logits, rec_logits)),
           "l1": float((rec - real).abs().mean()), name: fd}
    if selection is not None:
        predicted = rec_logits.argmax(1).numpy()
        pairs = _pairs(predicted, editor.records.num_classes)
        source = predicted if selection.mode == "one-vs-one" else [None] * len(predicted)
        curve = [{"k": 0, name: fd}]
        for k in range(1, top_k + 1):
            flat = torch.cat([editor.edited([r], selection.edits_toward(t, source[r], k)) for r, _, t in pairs])
            curve.append({"k": k, name: _frechet(real, editor.render(flat), editor)[1]})
        out["counterfactual_curve"] = curve
    return out


def condition(editor: Editor, ks=(1, 3, 10, 30, 100, 300), predicted=None) -> dict:
    """Does the generator take the classifier's decision from the condition c, and how does it write
    the condition into StyleSpace? A diagnostic for a classifier AttFind does not explain.

    For every image and every other class y, the image's condition is replaced by class y's (the
    mean recorded condition of the images the classifier puts in y) and the image is rendered from
    (a) every style of [w, c_y] (`flip_rate_all_styles`: does G follow the condition at all?),
    (b) only the k analysed coordinates the swap moves most, relative to their range over the
    images and averaged over the images of the same class pair, for each k in `ks` and for all of
    them (`curve`). A low (a) means G takes the decision from the encoder's latent w, not from c.
    The curve shows whether the condition's own change sits in a few coordinates or is spread;
    AttFind moves single coordinates much further (to their extremes), so a spread curve does not
    rule it out. Classes no image is predicted as have no condition and are left out.
    """
    predicted = base_predictions(editor) if predicted is None else predicted
    conditions = np.asarray(editor.records.conditions)
    class_condition = {int(y): conditions[predicted == y].mean(axis=0) for y in np.unique(predicted)}
    groups: dict[tuple[int, int], list[int]] = {}
    for r, source, target in _pairs(predicted, editor.records.num_classes):
        if target in class_condition:
            groups.setdefault((source, target), []).append(r)
    size = editor.space.size
    ks = sorted({int(k) for k in ks if 0 < k < size} | {size})
    span = (editor.style_max - editor.style_min).clamp_min(1e-8)
    flips = {"all": 0, **{k: 0 for k in ks}}
    for (_source, target), rows in groups.items():
        own = editor.styles[torch.as_tensor(rows, dtype=torch.long)]
        swapped = editor.with_condition(rows, class_condition[target])
        moved = ((swapped - own)[:, editor.full_index].abs() / span).mean(dim=0)
        order = editor.full_index[torch.argsort(moved, descending=True, stable=True)]

        def count(flat, target=target):
            return int((editor.logits(editor.render(flat)).argmax(1) == target).sum())

        flips["all"] += count(swapped)
        for k in ks:
            flat = own.clone()
            flat[:, order[:k]] = swapped[:, order[:k]]
            flips[k] += count(flat)
    n_pairs = sum(len(rows) for rows in groups.values())
    return {"what": "condition", "n_images": int(len(predicted)), "n_pairs": n_pairs, "coordinates": size,
            "flip_rate_all_styles": flips["all"] / max(1, n_pairs),
            "curve": [{"k": k, "flip_rate": flips[k] / max(1, n_pairs), "flips": flips[k]} for k in ks]}


def layer_step(editor: Editor, layer: int, source: int, target: int, predicted: np.ndarray,
               strength: float = 1.0) -> tuple[slice, torch.Tensor]:
    """The columns of style layer `layer` (a generator layer number) in the editor's full style
    vectors, and `strength` times the difference of their mean between the images the classifier
    puts in `target` and those it puts in `source` (see `layer_directions`)."""
    space = editor.full_space
    offset = space.offsets[space.included.index(layer)]
    cols = slice(offset, offset + space.layers[layer].channels)
    means = [editor.styles[predicted == y][:, cols].mean(0) for y in (target, source)]
    return cols, strength * (means[0] - means[1])


def _moved(editor: Editor, rows, moves) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and images of the images `rows` with every (cols, delta) of `moves` added to their styles."""
    moved = editor.styles[torch.as_tensor(rows, dtype=torch.long)].clone()
    for cols, delta in moves:
        moved[:, cols] += delta
    images = editor.render(moved)
    return editor.logits(images), images


def _direction_groups(predicted: np.ndarray, num_classes: int, classes: np.ndarray) -> dict[tuple[int, int], list]:
    """(source, target) -> rows, for every image and every other class, where `classes` (the
    decisions that define the class-mean directions) has images of both."""
    groups: dict[tuple[int, int], list[int]] = {}
    for r, source, target in _pairs(predicted, num_classes):
        if (classes == target).any() and (classes == source).any():
            groups.setdefault((source, target), []).append(r)
    return groups


def layer_transfer(editor: Editor, layers: list[int], classes: np.ndarray, strength: float = 1.0) -> float:
    """Flip rate, judged by the editor's classifier, of the `layers`' class-mean directions moved
    together (`layer_step`), where the classes that define the directions are `classes` (another
    classifier's decisions on the same images, for classifier-specificity)."""
    predicted = base_predictions(editor)
    groups = _direction_groups(predicted, editor.records.num_classes, classes)
    flips = 0
    for (source, target), rows in groups.items():
        moves = [layer_step(editor, index, source, target, classes, strength) for index in layers]
        flips += int((_moved(editor, rows, moves)[0].argmax(1) == target).sum())
    return flips / max(1, sum(len(rows) for rows in groups.values()))


def layer_directions(editor: Editor, oracle=None, strength: float = 1.0, seeds: int = 5, seed: int = 0,
                     predicted=None, top_k: int = 10, factors_used: dict[str, str] | None = None) -> dict:
    """Per-layer directions, an extension beside single-coordinate AttFind (docs/METHOD.md section 5.7):
    can a whole style layer, moved the way the classifier's classes differ, flip the decision?

    For every style layer (toRGB included) and every pair of classes (source a, target b), the
    direction is the difference of the mean styles of that layer between the images the classifier
    puts in b and those it puts in a (its own decisions on the reconstructions; nothing else). Each
    image of a is rendered with `strength` times that direction added to the layer's styles:
    `flip_rate` is the share of (image, other class) pairs whose decision becomes the target and
    `push` the mean rise of the target's logit over the source's. The baseline `random_flip_rate`
    moves the same layer as far (the same norm) in a random direction (`seeds` draws). Layers are
    ranked by flip rate, then push: the layers are this extension's attributes.

    `combined` treats them as AttFind's sufficiency treats attributes: the top k layers' directions
    applied together, k = 1..top_k, against random directions in the same layers with the same
    norms. With an `oracle` (synthetic world), `factor_change` and `dominant_factor` say which
    factor each layer's direction changes, as in `ground_truth`, and `recovery_<role>` is the share
    of the top k layers whose dominant factor is the role's factor (`factors_used`, as there).

    One coordinate cannot carry what a layer spreads over its channels (a background colour in the
    last toRGB layer, say); this shows where such a cue lives, not which single channel holds it.
    """
    base_images = editor.base_images()
    base_logits = editor.logits(base_images)
    predicted = base_logits.argmax(1).numpy() if predicted is None else predicted
    groups = _direction_groups(predicted, editor.records.num_classes, predicted)
    space = editor.full_space
    base_oracle = oracle.probabilities(base_images) if oracle is not None else None
    rng = torch.Generator().manual_seed(seed)
    steps = {(index, pair): layer_step(editor, index, *pair, predicted, strength)
             for index in space.included for pair in groups}

    def outcome(moves, pair, rows):
        """Flips toward the pair's target and summed push, with `moves` [(cols, delta)] applied."""
        logits, images = _moved(editor, rows, moves)
        source, target = pair
        margin = (logits[:, target] - logits[:, source]) - (base_logits[rows, target] - base_logits[rows, source])
        return int((logits.argmax(1) == target).sum()), float(margin.sum()), images

    def at_random(cols, delta):
        direction = torch.randn(delta.numel(), generator=rng)
        return cols, direction * (delta.norm() / direction.norm().clamp_min(1e-12))

    n_pairs = sum(len(rows) for rows in groups.values())
    layers = []
    for index in space.included:
        layer = space.layers[index]
        flips, random_flips, push, edited, order = 0, 0, 0.0, [], []
        for pair, rows in groups.items():
            step = steps[(index, pair)]
            f, m, images = outcome([step], pair, rows)
            flips, push = flips + f, push + m
            edited.append(images)
            order += rows
            random_flips += sum(outcome([at_random(*step)], pair, rows)[0] for _ in range(seeds))
        entry = {"layer": layer.name, "index": index, "kind": layer.kind, "channels": layer.channels,
                 "flip_rate": flips / max(n_pairs, 1), "push": push / max(n_pairs, 1),
                 "random_flip_rate": random_flips / max(n_pairs * seeds, 1)}
        if base_oracle is not None and order:
            change = _total_variation(oracle.probabilities(torch.cat(edited)),
                                      {f: v[order] for f, v in base_oracle.items()})
            entry.update(factor_change=change, dominant_factor=_dominant(change))
        layers.append(entry)
    layers.sort(key=lambda e: (-e["flip_rate"], -e["push"]))

    combined = []
    for k in range(1, min(top_k, len(layers)) + 1):
        chosen = [e["index"] for e in layers[:k]]
        flips, random_flips = 0, 0
        for pair, rows in groups.items():
            moves = [steps[(index, pair)] for index in chosen]
            flips += outcome(moves, pair, rows)[0]
            random_flips += sum(outcome([at_random(*m) for m in moves], pair, rows)[0] for _ in range(seeds))
        combined.append({"k": k, "flip_rate": flips / max(n_pairs, 1),
                         "random_flip_rate": random_flips / max(n_pairs * seeds, 1)})
    out = {"what": "layer_directions", "strength": strength, "seeds": seeds, "top_k": len(combined),
           "n_images": int(len(predicted)), "n_pairs": n_pairs, "layers": layers, "combined": combined,
           "top1_layer": layers[0]["layer"] if layers else None,
           "top1_dominant_factor": layers[0].get("dominant_factor") if layers else None}
    if base_oracle is not None:
        out.update(_recovery([e.get("dominant_factor") for e in layers[: len(combined)]], factors_used))
    return out


def _dominant(change: dict[str, float]) -> str | None:
    """The factor that changes most (None when nothing changes at all)."""
    return max(change, key=change.get) if any(v > 0 for v in change.values()) else None


def _recovery(dominant_factors: list, factors_used: dict[str, str] | None) -> dict:
    """recovery_<role>: for k = 1..len, the share of the first k dominant factors that are the role's."""
    out = {}
    for role, factor in (factors_used or {}).items():
        hits = np.cumsum([d == factor for d in dominant_factors])
        out[f"recovery_{role}"] = {"factor": factor,
                                   "at_k": [{"k": k + 1, "recovery": float(h / (k + 1))} for k, h in enumerate(hits)]}
    return out


def _total_variation(p: dict[str, torch.Tensor], q: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean total-variation distance per factor between two sets of oracle distributions."""
    return {f: float(0.5 * (p[f] - q[f]).abs().sum(dim=1).mean()) for f in p}


def ground_truth(editor: Editor, selection: Selection, oracle, top_k: int = 10,
                 factors_used: dict[str, str] | None = None, moved_logit: float = 0.2) -> dict:
    """Which world factor each top attribute changes, and causal recovery@k.

    Each attribute is applied to every image in the direction that pushes it toward another class
    (binary: its own direction on images of the other class, the opposite one on images of its
    class); the factor oracle reads every factor on the reconstructions and on the edited images,
    and a factor's change is the mean total-variation distance of the two predictive distributions
    (0: unchanged, 1: always changed). The dominant factor is the one that changes most.
    `reading_changed_on_moved[f]` is, on the `n_moved` images whose classifier logit of the
    attribute's class the edit moves by more than `moved_logit`, the share where the oracle reads
    another value of f after the edit (does the decision move with a change a person sees?).

    Args:
        editor: renders the records' images.
        selection: the attributes.
        oracle: `stylex.oracle.FactorOracle` (or any object with `probabilities(images)`).
        top_k: how many attributes.
        factors_used: role -> factor name of the factors the classifier may use, e.g.
            {"label": "smile", "shortcut": "background"}; recovery@k is reported for each.
    """
    predicted = editor.records.predicted
    rows = np.arange(editor.num_images)
    base_images = editor.base_images()
    base, base_logits = oracle.probabilities(base_images), editor.logits(base_images)
    per_attribute = []
    for a in selection.attributes[:top_k]:
        parts = [(rows[predicted != a.toward_class], a.direction)]
        if selection.mode == "binary":
            parts.append((rows[predicted == a.toward_class], 1 - a.direction))
        order = np.concatenate([g for g, _ in parts])
        edited = editor.render(torch.cat([editor.edited(g, [Edit(a.coordinate, d)]) for g, d in parts]))
        after = oracle.probabilities(edited)
        before = {f: v[order] for f, v in base.items()}
        change = _total_variation(after, before)
        dominant = _dominant(change)
        # The images the edit moves: the classifier's logit of the attribute's class changes by more
        # than the selection threshold; on them, how often the oracle reads another value.
        shift = editor.logits(edited)[:, a.toward_class] - base_logits[order, a.toward_class]
        moved = (shift.abs() > moved_logit).numpy()
        reading = {f: float((after[f].argmax(1) != before[f].argmax(1)).numpy()[moved].mean()) if moved.any()
                   else 0.0 for f in after}
        per_attribute.append({"rank": a.rank, "name": a.name, "coordinate": a.coordinate,
                              "direction": a.direction, "toward_class": editor.class_names[a.toward_class],
                              "factor_change": change, "dominant_factor": dominant, "n_images": len(order),
                              "n_moved": int(moved.sum()), "reading_changed_on_moved": reading})
    out = {"what": "ground_truth", "top_k": top_k, "n_images": editor.num_images, "attributes": per_attribute,
           "top1_dominant_factor": per_attribute[0]["dominant_factor"] if per_attribute else None}
    out.update(_recovery([p["dominant_factor"] for p in per_attribute], factors_used))
    return out


@torch.no_grad()
def fidelity(G, E, classifier, images: torch.Tensor, oracle, conditioning: str = "probs", samples: int = 256,
             batch: int = 64, seed: int = 0) -> dict:
    """Does a reconstruction keep what a person sees? A number the classifier cannot fake.

    For held-out world images x and their reconstructions x' = G(E(x), C(x)) (constant noise), the
    factor oracle reads every world factor on both: `factor_fidelity[f]` is the share of images
    where it reads the same value of f on x' as on x. An invisible change that keeps the classifier's
    decision leaves `agreement` at 1 but lowers the fidelity of the factor the classifier reads.
    `sample_confidence` is the oracle's mean top probability per factor on `samples` noise samples
    G(mapping(z), C(x)) (a proxy for "they look like the world's faces"; about 1/values for noise).

    Args:
        G, E, classifier: the generator, encoder and classifier (eval mode).
        images: [N, 3, R, R] held-out world images in [-1, 1].
        oracle: a `stylex.oracle.FactorOracle` (a judge only: nothing of it enters training).
        conditioning: `probs` or `logits`, as the run was trained.
        samples: noise samples for `sample_confidence` (0 skips it).
    """
    device = next(G.parameters()).device
    recs, agree, l1_sum, conditions = [], 0, 0.0, []
    for x in in_batches(images, batch):
        x = x.to(device)
        logits = classifier(x).float()
        c = maths.condition_from_logits(logits, conditioning)
        rec = maths.clamp_images(G.synthesis(G.styles(E(x), c)))
        agree += int((classifier(rec).float().argmax(1) == logits.argmax(1)).sum())
        l1_sum += float((rec - x).abs().mean(dim=[1, 2, 3]).sum())
        recs.append(rec.cpu())
        conditions.append(c)
    n = len(images)
    real_read, rec_read = oracle.predict(images), oracle.predict(torch.cat(recs))
    out = {"what": "fidelity", "num_images": n, "agreement": agree / n, "l1": l1_sum / n,
           "factor_fidelity": {f: float((real_read[f] == rec_read[f]).float().mean()) for f in real_read}}
    if samples:
        gen = torch.Generator(device=device).manual_seed(seed)
        c_all = torch.cat(conditions)
        pick = torch.randint(len(c_all), (samples,), generator=torch.Generator().manual_seed(seed))
        fakes = []
        for start in range(0, samples, batch):
            c = c_all[pick[start : start + batch].to(c_all.device)]
            z = torch.randn(len(c), G.z_dim, device=device, generator=gen)
            fakes.append(maths.clamp_images(G.synthesis(G.styles(G.mapping(z), c))).cpu())
        probs = oracle.probabilities(torch.cat(fakes))
        out["sample_confidence"] = {f: float(p.max(1).values.mean()) for f, p in probs.items()}
        out["num_samples"] = samples
    out["min_factor_fidelity"] = min(out["factor_fidelity"].values())
    return out


def fidelity_of_run(checkpoint, classifier_path, data: str, num_images: int = 256, samples: int = 256,
                    batch: int = 64, device="cpu", oracle_path=None) -> dict:
    """`fidelity` of a run directory or checkpoint on the test faces of a synthetic world.

    Args:
        checkpoint: run directory or checkpoint file (`stylex train`).
        classifier_path: the classifier the run explains (its fingerprint must match the run's).
        data: a world written by `stylex world` (or `world:DIR`).
        num_images: test faces reconstructed (the first ones of the test split).
        samples, batch, device: see `fidelity`.
        oracle_path: factor-oracle weights (default: the packaged ones).
    """
    from stylex.classifiers import load_classifier
    from stylex.datasets import open_dataset
    from stylex.errors import StylexError
    from stylex.oracle import load_oracle
    from stylex.training.checkpoint import load_trained

    model = load_trained(checkpoint, device)
    classifier = load_classifier(classifier_path, device, resolution=model.net_config.resolution)
    if model.classifier_fingerprint and classifier.fingerprint != model.classifier_fingerprint:
        raise StylexError(f"--classifier {classifier_path} is not the classifier {model.checkpoint_path} was "
                          "trained with (weights fingerprints differ); pass the run's classifier file")
    test = open_dataset(data, model.net_config.resolution, "test")
    if not test.factors:
        raise StylexError(f"--data {data}: fidelity needs a synthetic world (a folder written by `stylex world`); "
                          "the factor oracle reads only the world's faces")
    images = torch.stack([test[i][0] for i in range(min(num_images, len(test)))])
    result = fidelity(model.G, model.E, classifier, images, load_oracle(oracle_path, device), model.conditioning,
                      samples, batch)
    result.update(checkpoint=str(model.checkpoint_path), kimg=model.kimg)
    return result


# -- the registry ---------------------------------------------------------------------------------


@dataclass
class EvaluationInputs:
    """Everything an evaluation may read; each entry uses what it needs."""

    context: Any = None  # the AttFindContext of the records measured (all but fidelity)
    top_k: int = 10
    batch: int = 64
    seeds: int = 5  # baselines: random draws averaged
    runs: dict | None = None  # specificity: name -> AttFindContext (two runs)
    oracle: Any = None  # ground_truth: a FactorOracle or its weights file (None: the packaged one)
    factors: dict | None = None  # ground_truth: role -> factor (None: the records' world label and shortcut)
    checkpoint: Any = None  # fidelity: run directory or checkpoint
    classifier: Any = None  # fidelity: the run's classifier file
    data: str | None = None  # fidelity: the world
    num_images: int = 256  # fidelity: test faces reconstructed
    samples: int = 256  # fidelity: noise samples (0 skips)
    device: Any = "cpu"

    def editor(self) -> Editor:
        return self.context.editor(self.batch)


@dataclass(frozen=True)
class Evaluation:
    name: str
    fn: Callable[[EvaluationInputs], dict]
    needs_records: bool = True


EVALUATIONS: dict[str, Evaluation] = {}
ALIASES = {"ground-truth": "ground_truth"}  # the command line's older spelling


def register(name: str, needs_records: bool = True):
    """Add `fn(inputs: EvaluationInputs) -> dict` to EVALUATIONS under `name`."""
    def add(fn):
        EVALUATIONS[name] = Evaluation(name, fn, needs_records)
        return fn

    return add


def evaluation(name: str) -> Evaluation:
    """The registry entry of `name` (or of an alias)."""
    from stylex.errors import StylexError

    name = ALIASES.get(name, name)
    if name not in EVALUATIONS:
        raise StylexError(f"unknown evaluation {name!r}; allowed: {', '.join(EVALUATIONS)}")
    return EVALUATIONS[name]


@register("sufficiency")
def _sufficiency(inputs: EvaluationInputs) -> dict:
    return sufficiency(inputs.editor(), inputs.context.selection, inputs.top_k)


@register("baselines")
def _baselines(inputs: EvaluationInputs) -> dict:
    return baselines(inputs.editor(), inputs.context.selection, inputs.top_k, inputs.seeds)


@register("specificity")
def _specificity(inputs: EvaluationInputs) -> dict:
    from stylex.errors import StylexError

    if not inputs.runs:
        raise StylexError("specificity needs --other-records: the records of the run trained with the other "
                          "classifier")
    runs = {name: (c.G, c.classifier, c.records, c.selection, c.device) for name, c in inputs.runs.items()}
    return specificity(runs, inputs.top_k)


@register("reconstruction")
def _reconstruction(inputs: EvaluationInputs) -> dict:
    return reconstruction(inputs.editor(), inputs.context.selection, inputs.top_k)


@register("condition")
def _condition(inputs: EvaluationInputs) -> dict:
    return condition(inputs.editor())


def _world_factors(inputs: EvaluationInputs) -> dict[str, str]:
    """role -> factor: the given ones, else the records' world label and shortcut."""
    return inputs.factors or {k: v for k, v in (inputs.context.records.provenance.world or {}).items() if v}


@register("ground_truth")
def _ground_truth(inputs: EvaluationInputs) -> dict:
    from stylex.errors import StylexError
    from stylex.oracle import load_oracle

    records = inputs.context.records
    factors = _world_factors(inputs)
    if not factors:
        raise StylexError(f"{records.path} was not made on a synthetic world; ground truth needs one "
                          "(or pass --factor)")
    oracle = inputs.oracle
    if oracle is None or isinstance(oracle, (str, Path)):
        oracle = load_oracle(oracle, inputs.device)
    return ground_truth(inputs.editor(), inputs.context.selection, oracle, inputs.top_k, factors)


@register("layer_directions")
def _layer_directions(inputs: EvaluationInputs) -> dict:
    oracle = inputs.oracle
    if isinstance(oracle, (str, Path)) or (oracle is None and inputs.context.records.provenance.world):
        from stylex.oracle import load_oracle

        oracle = load_oracle(oracle, inputs.device)
    factors = _world_factors(inputs)
    return layer_directions(inputs.editor(), oracle, seeds=inputs.seeds, top_k=inputs.top_k,
                            factors_used=factors if oracle is not None else None)


@register("fidelity", needs_records=False)
def _fidelity(inputs: EvaluationInputs) -> dict:
    from stylex.errors import StylexError

    missing = [flag for flag, value in (("--checkpoint", inputs.checkpoint), ("--classifier", inputs.classifier),
                                         ("--data", inputs.data)) if not value]
    if missing:
        raise StylexError(f"fidelity needs {', '.join(missing)} (the run or checkpoint, its classifier and the world)")
    return fidelity_of_run(inputs.checkpoint, inputs.classifier, inputs.data, inputs.num_images, inputs.samples,
                           inputs.batch, inputs.device,
                           oracle_path=inputs.oracle if isinstance(inputs.oracle, (str, Path)) else None)
