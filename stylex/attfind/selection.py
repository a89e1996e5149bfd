"""AttFind Steps B-E (docs/METHOD.md sections 4.2-4.7): from the effect tensor to a ranked list of
attributes, and the per-image explanations.

An attribute is one StyleSpace coordinate moved in one direction (0: toward its minimum over the
analysed images, 1: toward its maximum); it "pushes toward class y" when it raises y's logit.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from stylex.errors import StylexError
from stylex.runtime import atomic_write_bytes

MODES = ("auto", "binary", "one-vs-all", "one-vs-one")
# Step B's default limit as a share of an image's 2 x S x C effect entries: the authors' 750 entries
# of 2 x 5760 x 2 (S = 5760 coordinates of their 256 px generator, 2 classes), about 3.26%.
UNSTABLE_SHARE = 750 / (2 * 5760 * 2)


@dataclass
class SelectionOptions:
    top_k: int = 10  # attributes per greedy search (per class, or per class pair)
    threshold: float = 0.2  # t: a logit change that counts as moving an image
    flip_factor: float = 5.0  # an image stops steering the search once its pushes add up to flip_factor * t
    unstable_filter: bool = True  # zero the effects of images that react to too many edits
    unstable_share: float = UNSTABLE_SHARE  # ... more than this share of its 2 x S x C entries
    unstable_count: int | None = None  # ... or, when set, more than this many entries (replaces the share)
    unstable_logit: float = 2.0  # ... with |effect| above this many logits
    mode: str = "auto"  # auto (binary for 2 classes, else one-vs-all) | binary | one-vs-all | one-vs-one
    # Reject a candidate if any of its first `discriminator_images` affected images changes D's
    # output by more than this (None: off; the authors use 0.2 over 10 images). See `greedy_toward`.
    discriminator_limit: float | None = None
    discriminator_images: int = 10


class Edit(NamedTuple):
    """One StyleSpace edit: a coordinate (flat index in the analysed StyleSpace) moved in a direction
    (0: toward its minimum over the analysed images, 1: toward its maximum). Every module passes
    edits in this order (`Selection.edits_toward`, `greedy_toward`, `Editor.edited`, the evaluation)."""

    coordinate: int
    direction: int


@dataclass
class Attribute:
    """One selected (coordinate, direction) and what it does on the analysed images."""

    rank: int  # 1-based position in its list
    coordinate: int  # flat index in the analysed StyleSpace
    direction: int  # 0: toward the coordinate's minimum, 1: toward its maximum
    toward_class: int  # the class this direction pushes toward
    score: float  # the list's ranking score (see `select_attributes`)
    mean_effect: list[float]  # mean logit change of each class over all stable images, in `direction`
    images_moved: int  # images of the list's source classes pushed toward their target by more than t
    name: str = ""  # e.g. "b16.conv1[37]"
    layer: int = -1  # generator layer number
    channel: int = -1  # channel within the layer


@dataclass
class AttributeList:
    """A greedy search result: attributes pushing images of `source` (None: every other class) toward
    `target`. The binary combined list has target 0 and source None; its entries push toward class 0
    in `direction` and toward class 1 in the opposite direction."""

    target: int
    source: int | None
    attributes: list[Attribute]


@dataclass
class Selection:
    mode: str  # binary | one-vs-all | one-vs-one
    options: SelectionOptions
    class_names: list[str]
    attributes: list[Attribute]  # the main ranked list (binary: Step E's combined list)
    lists: list[AttributeList]  # every greedy search (binary: toward class 0, toward class 1)
    unstable: list[int] = field(default_factory=list)  # rows whose effects were zeroed (Step B)
    num_images: int = 0

    def edits_toward(self, target: int, source: int | None = None, top_k: int | None = None) -> list[Edit]:
        """The top attributes as edits that push toward `target` (for images of class `source` in
        one-vs-one mode)."""
        if self.mode == "binary":
            pairs = [Edit(a.coordinate, a.direction if a.toward_class == target else 1 - a.direction)
                     for a in self.attributes]
        else:
            wanted = source if self.mode == "one-vs-one" else None
            found = [lst for lst in self.lists if lst.target == target and lst.source == wanted]
            if not found:
                raise StylexError(f"the selection has no list toward class {target} from {source}")
            pairs = [Edit(a.coordinate, a.direction) for a in found[0].attributes]
        return pairs[:top_k] if top_k else pairs


def unstable_images(effect: np.ndarray, share: float = UNSTABLE_SHARE, logit: float = 2.0,
                    count: int | None = None) -> np.ndarray:
    """Step B: [N] bool, True for images with more than `share` of their 2 x S x C entries (or, when
    `count` is given, more than `count` entries) of |effect| > `logit`."""
    large = (np.abs(effect) > logit).reshape(len(effect), -1)
    limit = share * large.shape[1] if count is None else count
    return large.sum(axis=1) > limit


def greedy_toward(
    toward: np.ndarray,
    top_k: int,
    threshold: float = 0.2,
    flip_factor: float = 5.0,
    disc: np.ndarray | None = None,
    disc_limit: float | None = None,
    disc_images: int = 10,
) -> list[Edit]:
    """Step D: greedy search for the edits that push a set of images toward one class.

    Args:
        toward: [n, 2, S], each edit's change of the target class's logit on the n source images.
        top_k: how many edits to find (fewer if nothing pushes any more).
        threshold, flip_factor: an image stops steering the search once its accumulated positive
            push reaches flip_factor * threshold (it is considered flipped); once all are, the
            remaining edits are ranked on all images again.
        disc, disc_limit, disc_images: optional [n, 2, S] discriminator changes (the records'
            `disc_effect`: D(x', softmax(C(x'))) - D(x, softmax(C(x))), edits x' at shift 2) and the
            discriminator filter: a candidate is rejected (and never chosen) if any of the first
            `disc_images` images it affects (the source images, in their order, whose target logit
            it raises by more than `threshold`) has |change| > `disc_limit`. The authors use a limit
            of 0.2 over 10 images.
    Returns: the edits in the order found.
    """
    n, _, size = toward.shape
    push = np.maximum(toward, 0).reshape(n, 2 * size).astype(np.float64)
    disc = None if disc is None or disc_limit is None else np.abs(disc).reshape(n, 2 * size)
    acc = np.zeros(n)
    chosen: list[Edit] = []
    while len(chosen) < top_k and n:
        active = acc < flip_factor * threshold
        if not active.any():  # every image counts as flipped: rank the rest by their push on all images
            active[:] = True
        means = push[active].mean(axis=0)
        j = int(means.argmax())
        if means[j] <= 0:
            break
        if disc is not None:
            affected = np.flatnonzero(push[:, j] > threshold)[:disc_images]
            if (disc[affected, j] > disc_limit).any():
                push[:, j] = 0
                continue
        chosen.append(Edit(j % size, j // size))
        acc += push[:, j]
        push[:, j] = 0
    return chosen


def _resolve_mode(mode: str, num_classes: int) -> str:
    if mode not in MODES:
        raise StylexError(f"selection mode {mode!r} unknown; allowed: {', '.join(MODES)}")
    if mode == "auto":
        return "binary" if num_classes == 2 else "one-vs-all"
    if mode == "binary" and num_classes != 2:
        raise StylexError(f"binary selection needs a 2-class classifier, this one has {num_classes}; "
                          "use one-vs-all or one-vs-one")
    return mode


def select_attributes(
    effect: np.ndarray,
    predicted: np.ndarray,
    options: SelectionOptions | None = None,
    class_names: list[str] | None = None,
    space=None,
    disc_effect: np.ndarray | None = None,
) -> Selection:
    """Steps B-E: the attributes that most move the classifier's decisions.

    Args:
        effect: [N, 2, S, C] from the records.
        predicted: [N] the classifier's class for each image (Step C splits by it).
        options: see `SelectionOptions`.
        class_names: names for the C classes (default "0", "1", ...).
        space: the analysed StyleSpace, to name coordinates (optional).
        disc_effect: [N, 2, S] discriminator changes, used only with options.discriminator_limit
            (see `greedy_toward` for the filter).

    Scores: the binary combined list ranks (d, k) by mean_i effect[i, d, k, 0] + mean_i
    effect[i, 1-d, k, 1] over all images (Step E); the one-vs-all and one-vs-one lists rank by the
    mean push toward their target over their source images.
    """
    options = options or SelectionOptions()
    n, _, size, num_classes = effect.shape
    class_names = list(class_names or [str(c) for c in range(num_classes)])
    mode = _resolve_mode(options.mode, num_classes)
    if options.discriminator_limit is not None and disc_effect is None:
        raise StylexError("the discriminator filter needs records made with a discriminator score "
                          "(`stylex attfind --discriminator-score`)")
    unstable = (unstable_images(effect, options.unstable_share, options.unstable_logit, options.unstable_count)
                if options.unstable_filter else np.zeros(n, dtype=bool))
    effect = np.where(unstable[:, None, None, None], 0.0, effect)
    predicted = np.asarray(predicted)

    def search(target, rows):
        disc = None if disc_effect is None else disc_effect[rows]
        return greedy_toward(effect[rows, :, :, target], options.top_k, options.threshold, options.flip_factor,
                             disc, options.discriminator_limit, options.discriminator_images)

    def attribute(rank, d, k, target, score, moved):
        a = Attribute(rank=rank, coordinate=int(k), direction=int(d), toward_class=int(target), score=float(score),
                      mean_effect=[float(v) for v in effect[:, d, k].mean(axis=0)], images_moved=int(moved))
        if space is not None:
            a.layer, a.channel = space.locate(int(k))
            a.name = space.name(int(k))
        return a

    def ranked_list(target, source):
        """The search toward `target` and its attributes ranked by mean push (returns both)."""
        rows = predicted != target if source is None else predicted == source
        found = search(target, rows)
        scored = [(effect[rows, d, k, target].mean(), d, k) for k, d in found]
        scored.sort(key=lambda t: -t[0])
        moved = [(effect[rows, d, k, target] > options.threshold).sum() for _, d, k in scored]
        attrs = [attribute(r + 1, d, k, target, s, m) for r, ((s, d, k), m) in enumerate(zip(scored, moved))]
        return AttributeList(target, source, attrs), found

    if mode == "binary":
        (list0, found0), (list1, found1) = ranked_list(0, None), ranked_list(1, None)
        entries = list(found0)
        seen = {e.coordinate for e in entries}
        for k, d in found1:  # Step E: class-1 entries with a new coordinate, flipped to push toward class 0
            if k not in seen:
                entries.append(Edit(k, 1 - d))
                seen.add(k)
        scored = [(effect[:, d, k, 0].mean() + effect[:, 1 - d, k, 1].mean(), d, k) for k, d in entries]
        scored.sort(key=lambda t: -t[0])
        attributes = []
        for rank, (score, d, k) in enumerate(scored, start=1):
            moved = ((effect[predicted == 1, d, k, 0] > options.threshold).sum()
                     + (effect[predicted == 0, 1 - d, k, 1] > options.threshold).sum())
            attributes.append(attribute(rank, d, k, 0, score, moved))
        lists = [list0, list1]
    else:
        pairs = ([(y, None) for y in range(num_classes)] if mode == "one-vs-all" else
                 [(y, z) for y in range(num_classes) for z in range(num_classes) if y != z])
        lists = [ranked_list(y, z)[0] for y, z in pairs]
        attributes = sorted((a for lst in lists for a in lst.attributes), key=lambda a: -a.score)
        attributes = [dataclasses.replace(a, rank=r) for r, a in enumerate(attributes, start=1)]
    return Selection(mode, options, class_names, attributes, lists, [int(i) for i in np.flatnonzero(unstable)], n)


def select_from_records(records, options: SelectionOptions | None = None) -> Selection:
    """`select_attributes` on a loaded records file."""
    if (options is not None and options.discriminator_limit is not None and records.disc_effect is not None
            and records.disc_shift is None):
        raise StylexError(f"records file {records.path} holds discriminator scores of an older stylex (D under "
                          "the original condition, at the records' shift); re-run `stylex attfind "
                          "--discriminator-score --overwrite` for the discriminator filter")
    return select_attributes(records.effect, records.predicted, options, records.class_names, records.space,
                             records.disc_effect)


def explain_image(
    effect: np.ndarray,
    target: int,
    top_k: int = 5,
    candidates: list[Edit] | None = None,
) -> list[tuple[int, int, float]]:
    """A per-image explanation: the edits that push one image most toward `target`.

    Args:
        effect: the image's [2, S, C] effects.
        target: the class to push toward.
        top_k: how many edits.
        candidates: None ranks every edit (`independent`); a list of edits ranks only those, e.g.
            the global attributes (`subset`).
    Returns: (coordinate, direction, logit change of `target`) triples, strongest first.
    """
    toward = effect[:, :, target]
    if candidates is None:
        order = np.argsort(-toward.reshape(-1), kind="stable")[:top_k]
        return [(int(j % toward.shape[1]), int(j // toward.shape[1]), float(toward.reshape(-1)[j])) for j in order]
    scored = sorted(((float(toward[d, k]), k, d) for k, d in candidates), key=lambda t: -t[0])[:top_k]
    return [(int(k), int(d), v) for v, k, d in scored]


# -- attributes.json ------------------------------------------------------------------------------


def attributes_path(records_path: str | Path) -> Path:
    """Where the selection of a records file is written: attributes.json in its folder."""
    return Path(records_path).parent / "attributes.json"


def _attribute_json(a: Attribute, class_names: list[str]) -> dict:
    data = dataclasses.asdict(a)
    data["direction_name"] = "to_max" if a.direction else "to_min"
    data["toward_class_name"] = class_names[a.toward_class]
    data["mean_effect"] = dict(zip(class_names, a.mean_effect))
    return data


def selection_to_json(selection: Selection, records_path: str | Path | None = None) -> dict:
    names = selection.class_names
    return {
        "format": "stylex-attfind-attributes",
        "version": 1,
        "records": None if records_path is None else str(records_path),
        "mode": selection.mode,
        "options": dataclasses.asdict(selection.options),
        "class_names": names,
        "num_images": selection.num_images,
        "unstable_images": selection.unstable,
        "attributes": [_attribute_json(a, names) for a in selection.attributes],
        "lists": [
            {"target": lst.target, "target_name": names[lst.target], "source": lst.source,
             "source_name": None if lst.source is None else names[lst.source],
             "attributes": [_attribute_json(a, names) for a in lst.attributes]}
            for lst in selection.lists
        ],
    }


def save_selection(selection: Selection, path: str | Path, records_path: str | Path | None = None) -> Path:
    path = Path(path)
    text = json.dumps(selection_to_json(selection, records_path), indent=2) + "\n"
    atomic_write_bytes(path, text.encode())
    return path


def _attribute_from_json(data: dict, class_names: list[str]) -> Attribute:
    known = {f.name for f in dataclasses.fields(Attribute)}
    values = {k: v for k, v in data.items() if k in known}
    values["mean_effect"] = [float(data["mean_effect"][c]) for c in class_names]
    return Attribute(**values)


def load_selection(path: str | Path) -> Selection:
    """Read an attributes.json written by `save_selection`."""
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"attributes file {path} does not exist; run `stylex attfind select --records FILE` first")
    try:
        data = json.loads(path.read_text())
        names = data["class_names"]
        return Selection(
            mode=data["mode"],
            options=SelectionOptions(**data["options"]),
            class_names=names,
            attributes=[_attribute_from_json(a, names) for a in data["attributes"]],
            lists=[
                AttributeList(lst["target"], lst["source"], [_attribute_from_json(a, names) for a in lst["attributes"]])
                for lst in data["lists"]
            ],
            unstable=data["unstable_images"],
            num_images=data["num_images"],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StylexError(f"attributes file {path} is not a valid stylex attributes file ({exc})") from exc
