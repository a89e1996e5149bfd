"""User studies of AttFind attributes (docs/METHOD.md section 5.5): packs of animations that people
answer, and the analysis of their answers. The protocol is in all_user_studies/README.md.

Two studies, as in the paper:

- classification: each question shows two animations of one attribute (on two images) on the left
  and two candidates, A and B, on the right: the same attribute on a third image and a different
  attribute on a fourth. A person who sees what the attribute does picks the right candidate.
- verbal: each question shows one attribute on four images side by side (1x4); the person
  describes the change in 1-4 words, and agreement between people is counted.

An animation sweeps one style coordinate from its minimum over the analysed images to its maximum
and back (`visualize.sweep_images`), so it shows both directions of an attribute.

A pack (`build_study_pack`, or `write_study_pack` with objects already loaded) is a folder:

    key.json               the answer key and provenance (format: `KEY_FORMAT`)
    info_of_images.txt     the key in words, for whoever runs the study (never show it to respondents)
    survey_questions.txt   question titles to paste into a survey tool, with their GIFs
    classification/class_01.gif ...    one GIF per classification question
    verbal/verbal_01.gif ...           one GIF per verbal question

`analyze_study` reads a survey export (one row per respondent, one column per question; the
column layouts of common survey tools are accepted, see `read_answers`) and reports accuracy (and
verbal agreement) per study and per attribute, as JSON and a bar plot.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from stylex.errors import StylexError
from stylex.runtime import atomic_write_bytes

KEY_FORMAT = "stylex-user-study"
KEY_VERSION = 1
KEY_FILE = "key.json"
INFO_FILE = "info_of_images.txt"
QUESTIONS_FILE = "survey_questions.txt"
STUDIES_DIR = Path("all_user_studies")  # where packs go by default (relative to the working directory)
STUDIES = {"classification": "class", "verbal": "verbal"}  # study -> question id / file prefix
CHOICES = ("A", "B")  # the two candidates, left to right

CLASSIFICATION_PROMPT = ("The two animations on the left show the same kind of change. Which animation on the "
                         "right, A or B, shows that change too?")
VERBAL_PROMPT = "Describe in 1-4 words the single most prominent thing that changes in these four animations."


@dataclass
class StudyPack:
    """A written pack: its folder and its answer key (the content of key.json)."""

    directory: Path
    key: dict

    @property
    def key_path(self) -> Path:
        return self.directory / KEY_FILE


# -- building ---------------------------------------------------------------------------------


def study_attributes(selection, count: int) -> list:
    """The `count` best-ranked attributes of a selection with distinct coordinates (an animation
    sweeps a coordinate in both directions, so two entries of one coordinate would look the same)."""
    chosen, seen = [], set()
    for a in selection.attributes:
        if a.coordinate not in seen:
            chosen.append(a)
            seen.add(a.coordinate)
        if len(chosen) == count:
            break
    return chosen


def image_order(records, coordinate: int, unstable=()) -> np.ndarray:
    """Rows of the records' images, those where the coordinate moves the classifier most first (the
    largest |logit change| of any class in either direction); `unstable` rows (which react to
    nearly every edit) come last."""
    strength = np.abs(records.effect[:, :, coordinate, :]).max(axis=(1, 2))
    last = np.isin(np.arange(records.num_images), list(unstable))
    return np.lexsort((-strength, last))


def plan_classification(orders: list[np.ndarray], num_questions: int, rng: np.random.Generator,
                        pool: int = 8) -> list[dict]:
    """Which attributes and images each classification question shows.

    Balanced by construction: every attribute is the one shown on the left equally often, and
    every attribute is the distractor equally often (counts differ by at most one); the pairs are
    random (first a random cyclic shift of the attributes, then mixed by random swaps that keep
    each distractor different from its question's attribute); the correct candidate is A in half
    the questions and B in the other half (one more of either if the count is odd); the question
    order is random.

    Args:
        orders: per attribute, image rows strongest first (`image_order`); at least 2 attributes.
        num_questions: how many questions.
        rng: the random generator (seeded by the caller).
        pool: images are drawn at random from each attribute's `pool` strongest (at least 4 used).
    Returns: per question a dict with `attribute` and `distractor` (indices into `orders`),
    `reference` (2 rows), `same` (the row showing the attribute on the right), `other` (the row
    showing the distractor) and `answer` ("A" or "B": where the same attribute is).
    """
    k, n = len(orders), num_questions
    pool = max(pool, 4)
    shown = np.resize(np.arange(k), n)
    rng.shuffle(shown)
    cycle = rng.permutation(k)
    following = np.empty(k, dtype=int)
    following[cycle] = np.roll(cycle, -1)
    distractor = following[shown]  # never the shown attribute; its counts are shown's, permuted
    for _ in range(10 * n):
        i, j = rng.integers(n, size=2)
        if distractor[j] != shown[i] and distractor[i] != shown[j]:
            distractor[i], distractor[j] = distractor[j], distractor[i]
    answers = np.resize(np.array(CHOICES), n)
    rng.shuffle(answers)
    plan = []
    for x, y, answer in zip(shown, distractor, answers):
        x, y = int(x), int(y)
        rows = [int(r) for r in rng.choice(orders[x][:pool], 3, replace=False)]
        free = [int(r) for r in orders[y] if r not in rows]  # the distractor's image is a fourth image
        other = int(rng.choice(free[:pool]))
        plan.append(dict(attribute=x, distractor=y, reference=sorted(rows[:2]), same=rows[2], other=other,
                         answer=str(answer)))
    return plan


def plan_verbal(orders: list[np.ndarray], rng: np.random.Generator, pool: int = 8) -> list[dict]:
    """One verbal question per attribute: four distinct images drawn from its `pool` strongest."""
    pool = max(pool, 4)
    return [dict(attribute=x, images=sorted(int(r) for r in rng.choice(order[:pool], 4, replace=False)))
            for x, order in enumerate(orders)]


def classification_frames(editor, coordinate: int, other_coordinate: int, reference: list[int], same: int,
                          other: int, answer: str, frames: int = 16) -> list[Image.Image]:
    """The frames of one classification question: [example 1 | example 2] | [A | B]. The examples
    (images `reference`) and the `answer` candidate (image `same`) sweep `coordinate`; the other
    candidate (image `other`) sweeps `other_coordinate`."""
    from stylex.visualize import GAP, captioned, display_scale, hstack, sweep_images, to_pil

    scale = display_scale(editor.records.layers[-1].resolution)
    same_sweep = sweep_images(editor, coordinate, [*reference, same], frames)
    other_sweep = sweep_images(editor, other_coordinate, [other], frames)
    pictures = []
    for f in range(frames):
        left = [captioned(to_pil(same_sweep[f, j], scale), f"example {j + 1}") for j in range(2)]
        candidates = {answer: same_sweep[f, 2], next(c for c in CHOICES if c != answer): other_sweep[f, 0]}
        right = [captioned(to_pil(candidates[c], scale), c) for c in CHOICES]
        bar = Image.new("RGB", (GAP, left[0].height), (90, 90, 90))
        pictures.append(hstack([hstack(left), bar, hstack(right)], gap=3 * GAP))
    return pictures


def strip_frames(editor, coordinate: int, rows: list[int], frames: int = 16) -> list[Image.Image]:
    """The frames of one verbal question: the images of `rows` side by side, sweeping `coordinate`."""
    from stylex.visualize import display_scale, hstack, sweep_images, to_pil

    scale = display_scale(editor.records.layers[-1].resolution)
    sweep = sweep_images(editor, coordinate, rows, frames)
    return [hstack([to_pil(sweep[f, j], scale) for j in range(len(rows))]) for f in range(frames)]


def _attribute_line(a: dict) -> str:
    return (f"#{a['rank']} {a['name']} (coordinate {a['coordinate']}; toward its "
            f"{'maximum' if a['direction'] else 'minimum'} it pushes toward {a['toward_class']})")


def key_to_text(key: dict) -> str:
    """info_of_images.txt: the answer key in words."""
    attrs = {a["rank"]: a for a in key["attributes"]}
    index = key["dataset_index"]

    def images(rows):
        return ", ".join(f"{r} (dataset index {index[str(r)]})" for r in rows)

    lines = [f"User-study pack {key['name']!r}: answer key (do not show to respondents)",
             f"records: {key['source']['records']}; seed {key['seed']}; image numbers are rows of the records file",
             "", "Attributes:"]
    lines += [f"  {_attribute_line(a)}" for a in key["attributes"]]
    lines += ["", "Classification study (the same change is shown by the candidate named in each heading):"]
    for q in key["questions"]:
        if q["study"] != "classification":
            continue
        a, b = q["candidates"]["A"], q["candidates"]["B"]
        lines += [f"{q['id']} (survey Q{q['number']}, {q['file']}): same change in candidate {q['answer']} "
                  f"({'left' if q['answer'] == 'A' else 'right'} of the two on the right)",
                  f"  examples: attribute #{q['attribute']} {attrs[q['attribute']]['name']} on images "
                  f"{images(q['reference_images'])}",
                  f"  A: attribute #{a['attribute']} {attrs[a['attribute']]['name']} on image {images([a['image']])}",
                  f"  B: attribute #{b['attribute']} {attrs[b['attribute']]['name']} on image {images([b['image']])}"]
    lines += ["", "Verbal study:"]
    for q in key["questions"]:
        if q["study"] == "verbal":
            lines.append(f"{q['id']} (survey Q{q['number']}, {q['file']}): attribute #{q['attribute']} "
                         f"{attrs[q['attribute']]['name']} on images {images(q['images'])}")
    answers = ", ".join(f"Q{q['number']} {q['answer']}" for q in key["questions"] if q["study"] == "classification")
    lines += ["", f"Classification answers: {answers}", ""]
    return "\n".join(lines)


def questions_to_text(key: dict) -> str:
    """survey_questions.txt: what to put in the survey, question by question (no answers)."""
    lines = [f"Survey questions of the user-study pack {key['name']!r}, in survey order.",
             "Create one question per entry: the GIF, then the title exactly as written (it starts with the",
             "question id, which lets `stylex user-study analyze` find the column). Classification questions",
             "have the choices A and B, in that order; verbal questions a short free-text answer.", ""]
    for q in key["questions"]:
        kind = "choices: A, B" if q["study"] == "classification" else "answer: free text, 1-4 words"
        lines += [f"Q{q['number']}  {q['file']}  ({kind})", f"    {q['title']}", ""]
    return "\n".join(lines)


def _prepare_directory(out: Path, overwrite: bool) -> None:
    if (out / KEY_FILE).exists() and not overwrite:
        raise StylexError(f"{out} already holds a study pack; pass --overwrite (overwrite=True) to rebuild it "
                          "or choose another --name / --out")
    for study, prefix in STUDIES.items():  # an older build's GIFs would be left over otherwise
        for old in (out / study).glob(f"{prefix}_*.gif"):
            old.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_study_pack(editor, selection, out_dir: str | Path, *, name: str | None = None, questions: int = 12,
                     attributes: int = 6, seed: int = 0, frames: int = 16, duration_ms: int = 100, pool: int = 8,
                     overwrite: bool = False, progress: bool = True) -> StudyPack:
    """Write a study pack for a selection (see the module docstring for the files).

    Args:
        editor: an `Editor` over the records (renders the animations).
        selection: the selected attributes (attributes.json).
        out_dir: the pack's folder.
        name: the pack's name (default: the folder's name).
        questions: classification questions.
        attributes: how many of the top attributes (distinct coordinates) the studies use; the
            verbal study has one question per attribute.
        seed: seeds every random choice (images, attribute pairs, positions, order).
        frames: frames of each sweep (played forward, then back).
        duration_ms: how long each frame shows.
        pool: images are drawn from the `pool` images each attribute affects most.
        overwrite: rebuild a folder that already holds a pack.
        progress: show a progress bar.
    """
    from tqdm.auto import tqdm

    from stylex.visualize import write_loop_gif

    records = editor.records
    out = Path(out_dir)
    name = name or out.name
    if questions < 1 or frames < 2 or attributes < 2:
        raise StylexError(f"a study needs at least 1 question, 2 attributes and 2 frames (got {questions}, "
                          f"{attributes}, {frames})")
    chosen = study_attributes(selection, attributes)
    if len(chosen) < 2:
        raise StylexError(f"the selection of {records.path} has {len(chosen)} attribute(s) with distinct "
                          "coordinates; the classification study needs at least 2 (select more with "
                          "`stylex attfind select --top-k`)")
    if records.num_images < 4:
        raise StylexError(f"records file {records.path} has {records.num_images} images; a study question "
                          "shows 4 different images (run `stylex attfind` with --num-images 4 or more)")
    _prepare_directory(out, overwrite)
    rng = np.random.default_rng(seed)
    orders = [image_order(records, a.coordinate, selection.unstable) for a in chosen]
    class_plan = plan_classification(orders, questions, rng, pool)
    verbal_plan = plan_verbal(orders, rng, pool)
    width = max(2, len(str(max(questions, len(chosen)))))
    names = selection.class_names
    key_attributes = [dict(rank=a.rank, name=a.name or str(a.coordinate), coordinate=a.coordinate,
                           direction=a.direction, toward_class=names[a.toward_class], score=a.score) for a in chosen]
    key_questions, used_rows = [], set()
    jobs = []  # (file, frame-making function)
    for i, q in enumerate(class_plan, start=1):
        x, y = chosen[q["attribute"]], chosen[q["distractor"]]
        qid, file = f"class_{i:0{width}d}", f"classification/class_{i:0{width}d}.gif"
        candidates = {q["answer"]: dict(attribute=x.rank, image=q["same"])}
        candidates[next(c for c in CHOICES if c != q["answer"])] = dict(attribute=y.rank, image=q["other"])
        key_questions.append(dict(id=qid, number=len(key_questions) + 1, study="classification", file=file,
                                  title=f"{qid}: {CLASSIFICATION_PROMPT}", attribute=x.rank, distractor=y.rank,
                                  reference_images=q["reference"], candidates={c: candidates[c] for c in CHOICES},
                                  answer=q["answer"]))
        used_rows.update([*q["reference"], q["same"], q["other"]])
        jobs.append((file, lambda x=x, y=y, q=q: classification_frames(
            editor, x.coordinate, y.coordinate, q["reference"], q["same"], q["other"], q["answer"], frames)))
    for i, q in enumerate(verbal_plan, start=1):
        a = chosen[q["attribute"]]
        qid, file = f"verbal_{i:0{width}d}", f"verbal/verbal_{i:0{width}d}.gif"
        key_questions.append(dict(id=qid, number=len(key_questions) + 1, study="verbal", file=file,
                                  title=f"{qid}: {VERBAL_PROMPT}", attribute=a.rank, images=q["images"]))
        used_rows.update(q["images"])
        jobs.append((file, lambda a=a, q=q: strip_frames(editor, a.coordinate, q["images"], frames)))
    meta = records.provenance
    key = {
        "format": KEY_FORMAT, "version": KEY_VERSION, "name": name, "seed": seed,
        "source": {"records": str(records.path), "checkpoint_sha256": meta.checkpoint_sha256,
                   "classifier_fingerprint": meta.classifier_fingerprint, "selection_mode": selection.mode},
        "class_names": names,
        "animation": {"frames": frames, "duration_ms": duration_ms, "pool": pool,
                      "sweep": "one style coordinate from its minimum over the analysed images to its maximum, "
                               "then back"},
        "attributes": key_attributes,
        "dataset_index": {str(r): int(records.image_index[r]) for r in sorted(used_rows)},
        "questions": key_questions,
    }
    for file, make in tqdm(jobs, desc="user-study GIFs", unit="gif", disable=not progress):
        (out / file).parent.mkdir(parents=True, exist_ok=True)
        write_loop_gif(make(), out / file, duration_ms)
    (out / INFO_FILE).write_text(key_to_text(key))
    (out / QUESTIONS_FILE).write_text(questions_to_text(key))
    atomic_write_bytes(out / KEY_FILE, (json.dumps(key, indent=2) + "\n").encode())  # last: marks the pack done
    return StudyPack(out, key)


def build_study_pack(records: str | Path, name: str | None = None, out: str | Path | None = None, *,
                     questions: int = 12, attributes: int = 6, seed: int = 0, frames: int = 16,
                     duration_ms: int = 100, pool: int = 8, device: str = "cpu", checkpoint: str | Path | None = None,
                     classifier: str | Path | None = None, attributes_file: str | Path | None = None,
                     batch: int = 64, overwrite: bool = False, progress: bool = True) -> StudyPack:
    """`stylex user-study build`: load a records file (with its generator, classifier and
    attributes.json) and write a pack to `out` (default all_user_studies/<name>).

    Args:
        records: the records file of `stylex attfind`.
        name: the pack's name (a folder name; default: the name of `out`).
        out: the pack's folder.
        device: where the generator and classifier run.
        checkpoint, classifier: new locations of the recorded files, if they moved.
        attributes_file: the selection (default: attributes.json beside the records).
        batch: images rendered per call.
        The other arguments are those of `write_study_pack`.
    """
    from stylex.attfind.context import load_context

    if out is None:
        if not name:
            raise StylexError("give the pack a --name (it goes to all_user_studies/<name>) or an --out folder")
        out = STUDIES_DIR / name
    if name and not re.fullmatch(r"[\w.-]+", name):
        raise StylexError(f"pack name {name!r} must be a plain folder name (letters, digits, '_', '-', '.')")
    ctx = load_context(records, device, checkpoint, classifier, attributes_file)
    return write_study_pack(ctx.editor(batch), ctx.selection, out, name=name, questions=questions,
                            attributes=attributes, seed=seed, frames=frames, duration_ms=duration_ms, pool=pool,
                            overwrite=overwrite, progress=progress)


# -- reading answers --------------------------------------------------------------------------


def load_key(path: str | Path) -> dict:
    """Read a pack's key.json (`path` may be the pack folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / KEY_FILE
    if not path.is_file():
        raise StylexError(f"answer key {path} does not exist; it is the key.json of a pack made by "
                          "`stylex user-study build`")
    try:
        key = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StylexError(f"answer key {path} is not readable JSON ({exc})") from exc
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT:
        raise StylexError(f"{path} is not a stylex user-study answer key (format {KEY_FORMAT!r})")
    if key.get("version") != KEY_VERSION:
        raise StylexError(f"answer key {path} has version {key.get('version')}; this stylex reads {KEY_VERSION}")
    return key


@dataclass
class SurveyAnswers:
    """A survey export matched to a key."""

    path: Path
    columns: dict[str, str]  # question id -> the export's column header
    ignored: list[str]  # columns that are not questions of the key (timestamps, ids, other questions)
    responses: list[dict[str, str]]  # one per respondent: question id -> raw answer ("" = unanswered)


_Q_NUMBER = re.compile(r"\s*q(\d+)(?![a-z0-9_])")


def question_of_column(header: str, key: dict) -> str | None:
    """The key's question a column holds, or None for other columns. In this order: the header is a
    question id ("class_01"); it contains one as a separate word (a full question title such as
    Google Forms writes: "class_01: The two animations ..."); it starts with "Q<number>" (Qualtrics
    "Q3", or a title "Q3. ..."), the question's position in the survey."""
    text = header.strip().lower()
    ids = [q["id"] for q in key["questions"]]
    for qid in ids:
        if text == qid.lower():
            return qid
    found = [qid for qid in ids if re.search(rf"(?<![a-z0-9]){re.escape(qid.lower())}(?![a-z0-9])", text)]
    if len(found) > 1:
        raise StylexError(f"column {header!r} names several questions ({', '.join(found)}); rename it")
    if found:
        return found[0]
    match = _Q_NUMBER.match(text)
    if match:
        by_number = {q["number"]: q["id"] for q in key["questions"]}
        return by_number.get(int(match.group(1)))
    return None


def _is_header_row(cells: dict[str, str], row: list[str]) -> bool:
    """A second or third header row some tools write before the responses: Qualtrics (question
    texts, then {"ImportId": ...}), SurveyMonkey ("Response" / "Open-Ended Response")."""
    if any(cell.strip().startswith('{"ImportId"') for cell in row):
        return True
    values = [v.strip().lower() for v in cells.values()]
    if values and all(v in ("response", "open-ended response") for v in values):
        return True
    return any(qid.lower() in v for qid, v in zip(cells, values))  # a row repeating the question titles


def _questions_in(header: list[str], key: dict) -> int:
    """How many columns of a header name questions of the key (ambiguous ones count as none)."""
    found = 0
    for h in header:
        try:
            found += question_of_column(h, key) is not None
        except StylexError:
            pass
    return found


def _read_rows(path: Path, key: dict) -> list[list[str]]:
    """The CSV's rows. The delimiter (comma; semicolon as European Excel writes; tab) is the one
    whose header names the most questions: titles may contain commas or semicolons themselves."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise StylexError(f"answers file {path} is not UTF-8 text ({exc}); export it as UTF-8 CSV") from exc
    except OSError as exc:
        raise StylexError(f"answers file {path} could not be read ({exc})") from exc
    parsed = {d: list(csv.reader(io.StringIO(text), delimiter=d)) for d in ",;\t"}
    best = max(parsed, key=lambda d: _questions_in(parsed[d][0], key) if parsed[d] else 0)
    return parsed[best]


def read_answers(path: str | Path, key: dict) -> SurveyAnswers:
    """Read a survey export: one row per respondent, one column per question (found by
    `question_of_column`); other columns are ignored, as are the extra header rows of Qualtrics
    and SurveyMonkey exports and rows with no answer at all. A study whose questions are all absent
    is left out; one with some absent is an error."""
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"answers file {path} does not exist")
    rows = _read_rows(path, key)
    if not rows:
        raise StylexError(f"answers file {path} is empty; export the survey's responses as CSV")
    header, body = rows[0], rows[1:]
    columns: dict[str, int] = {}
    ignored = []
    for i, h in enumerate(header):
        try:
            qid = question_of_column(h, key)
        except StylexError as exc:
            raise StylexError(f"answers file {path}: {exc}") from None
        if qid is None:
            ignored.append(h)
        elif qid in columns:
            raise StylexError(f"answers file {path}: columns {header[columns[qid]]!r} and {h!r} both hold question "
                              f"{qid}; remove one")
        else:
            columns[qid] = i
    if not columns:
        raise StylexError(f"answers file {path} has no column for any question of the key (columns: "
                          f"{', '.join(repr(h) for h in header[:8])}{' ...' if len(header) > 8 else ''}); name "
                          "columns by question id (class_01), Q<number>, or keep the id in the question title "
                          "(see all_user_studies/README.md)")
    for study in STUDIES:
        wanted = [q["id"] for q in key["questions"] if q["study"] == study]
        missing = [qid for qid in wanted if qid not in columns]
        if missing and len(missing) < len(wanted):
            raise StylexError(f"answers file {path} has no column for question(s) {', '.join(missing)} of the "
                              f"{study} study; every question of a study needs its column")

    def cells(row):
        return {qid: (row[i] if i < len(row) else "") for qid, i in columns.items()}

    start = 0
    while start < min(3, len(body)) and _is_header_row(cells(body[start]), body[start]):
        start += 1
    responses = [c for c in map(cells, body[start:]) if any(v.strip() for v in c.values())]
    if not responses:
        raise StylexError(f"answers file {path} has no responses (only a header)")
    return SurveyAnswers(path, {qid: header[i] for qid, i in columns.items()}, ignored, responses)


_CHOICE_WORDS = {"a": "A", "left": "A", "1": "A", "b": "B", "right": "B", "2": "B"}
_FILLER = {"option", "animation", "candidate", "answer", "choice", "the", "one", "gif", "image"}


def choice_of(value: str) -> str | None:
    """A classification answer as "A" or "B" (None when blank). Accepted: A/B, left/right, 1/2, in
    any case, also with filler words ("Option 1", "Animation B", "A (left)"). Raises ValueError for
    anything else."""
    if not value.strip():
        return None
    words = [w for w in re.findall(r"[a-z0-9]+", value.lower()) if w not in _FILLER]
    meant = {_CHOICE_WORDS.get(w) for w in words}
    if len(meant) != 1 or None in meant:
        raise ValueError(value)
    return meant.pop()


_STOP_WORDS = {"a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "is", "are", "it", "its", "more",
               "less", "change", "changes", "changing", "get", "gets", "become", "becomes", "some", "with"}


def answer_words(text: str) -> set[str]:
    """The words of a verbal answer that count for agreement: lower case, without stop words and
    direction words (an animation loops both ways), a plural "s" dropped ("eyes" -> "eye")."""
    words = set()
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        if w not in _STOP_WORDS:
            words.add(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return words


# -- analysis ---------------------------------------------------------------------------------


def _spread(values: list[float]) -> dict:
    """Mean and sample standard deviation (n - 1; None for a single respondent) across respondents."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()) if len(v) else None, "std": float(v.std(ddof=1)) if len(v) > 1 else None,
            "respondents": len(v)}


def _per_respondent(scores: list[dict[str, float]], qids: list[str]) -> list[float]:
    """Each respondent's mean score over the questions of `qids` they answered (respondents who
    answered none of them are left out)."""
    out = []
    for s in scores:
        got = [s[q] for q in qids if q in s]
        if got:
            out.append(float(np.mean(got)))
    return out


def _study_summary(questions: list[dict], scores: list[dict[str, float]], key: dict, measure: str) -> dict:
    attrs = {a["rank"]: a for a in key["attributes"]}
    qids = [q["id"] for q in questions]
    summary = {measure: _spread(_per_respondent(scores, qids)), "questions": len(questions),
               "unanswered": sum(q not in s for s in scores for q in qids), "per_attribute": []}
    for rank in sorted({q["attribute"] for q in questions}):
        mine = [q["id"] for q in questions if q["attribute"] == rank]
        summary["per_attribute"].append({"attribute": rank, "name": attrs[rank]["name"], "questions": len(mine),
                                         measure: _spread(_per_respondent(scores, mine))})
    return summary


def analyze_answers(key: dict, answers: SurveyAnswers) -> dict:
    """Accuracy of the classification study and agreement of the verbal study, per study and per
    attribute: mean and standard deviation across respondents of each respondent's mean over the
    questions they answered (blank answers are left out and counted as unanswered).

    Verbal agreement: per question, the word used by the most respondents (`answer_words`; ties go
    to the alphabetically first) is the consensus, and a respondent agrees when their answer
    contains it. It is a rough automatic measure: read the answers too (the top words are listed).
    """
    result = {"key": key.get("name"), "answers": str(answers.path), "respondents": len(answers.responses),
              "columns": answers.columns, "ignored_columns": answers.ignored, "studies": {}}
    by_study = {s: [q for q in key["questions"] if q["study"] == s and q["id"] in answers.columns] for s in STUDIES}
    if by_study["classification"]:
        questions = by_study["classification"]
        scores = [{} for _ in answers.responses]
        for r, response in enumerate(answers.responses):
            for q in questions:
                try:
                    choice = choice_of(response[q["id"]])
                except ValueError:
                    raise StylexError(
                        f"answers file {answers.path}, column {answers.columns[q['id']]!r} (question {q['id']}), "
                        f"respondent {r + 1}: answer {response[q['id']]!r} is not one of A/B, left/right, 1/2"
                    ) from None
                if choice is not None:
                    scores[r][q["id"]] = float(choice == q["answer"])
        summary = _study_summary(questions, scores, key, "accuracy")
        summary["per_question"] = [
            {"id": q["id"], "attribute": q["attribute"], "answer": q["answer"],
             "answered": sum(q["id"] in s for s in scores),
             "accuracy": _spread([s[q["id"]] for s in scores if q["id"] in s])["mean"]} for q in questions]
        result["studies"]["classification"] = summary
    if by_study["verbal"]:
        questions = by_study["verbal"]
        scores = [{} for _ in answers.responses]
        per_question = []
        for q in questions:
            words = [answer_words(resp[q["id"]]) if resp[q["id"]].strip() else None for resp in answers.responses]
            counts = Counter(w for ws in words if ws for w in ws)
            top = sorted(counts.items(), key=lambda t: (-t[1], t[0]))
            consensus = top[0][0] if top else None
            for r, ws in enumerate(words):
                if ws is not None:
                    scores[r][q["id"]] = float(consensus in ws)
            per_question.append({"id": q["id"], "attribute": q["attribute"], "consensus": consensus,
                                 "top_words": dict(top[:5]), "answered": sum(ws is not None for ws in words),
                                 "answers": [answers.responses[r][q["id"]].strip() for r in range(len(words))
                                             if words[r] is not None]})
        summary = _study_summary(questions, scores, key, "agreement")
        summary["per_question"] = per_question
        result["studies"]["verbal"] = summary
    return result


def plot_analysis(result: dict, path: str | Path) -> Path:
    """A small bar plot: per study, all questions and each attribute, with the standard deviation
    across respondents as error bars (classification: chance level 0.5 dashed)."""
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    studies = result["studies"]
    fig = Figure(figsize=(3 + 2.2 * len(studies), 3.2), dpi=100)
    for i, (study, summary) in enumerate(studies.items()):
        measure = "accuracy" if study == "classification" else "agreement"
        bars = [("all", summary[measure])] + [(f"#{a['attribute']}", a[measure]) for a in summary["per_attribute"]]
        ax = fig.add_subplot(1, len(studies), i + 1)
        means = [b["mean"] or 0.0 for _, b in bars]
        errors = [b["std"] or 0.0 for _, b in bars]
        ax.bar(range(len(bars)), means, yerr=errors, capsize=3,
               color=["#555555"] + ["#4c72b0"] * (len(bars) - 1))
        ax.set_xticks(range(len(bars)), [label for label, _ in bars], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(measure)
        ax.set_title(f"{study} (n={summary[measure]['respondents']})", fontsize=9)
        if study == "classification":
            ax.axhline(0.5, color="#aa3333", linestyle="--", linewidth=1)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def analyze_study(key: str | Path, answers: str | Path, json_out: str | Path | None = None,
                  plot_out: str | Path | None = None) -> dict:
    """`stylex user-study analyze`: read the key and a survey export, write the analysis JSON
    (default: <answers>_analysis.json beside the export) and its plot (default: the JSON's path
    with .png), and return the analysis."""
    key_data = load_key(key)
    answers = Path(answers)
    result = analyze_answers(key_data, read_answers(answers, key_data))
    json_out = Path(json_out) if json_out else answers.with_name(f"{answers.stem}_analysis.json")
    plot_out = Path(plot_out) if plot_out else json_out.with_suffix(".png")
    result["plot"] = str(plot_out)
    atomic_write_bytes(json_out, (json.dumps(result, indent=2) + "\n").encode())
    plot_analysis(result, plot_out)
    result["json"] = str(json_out)
    return result


__all__ = [
    "StudyPack", "SurveyAnswers", "analyze_answers", "analyze_study", "answer_words", "build_study_pack",
    "choice_of", "classification_frames", "image_order", "key_to_text", "load_key", "plan_classification",
    "plan_verbal", "plot_analysis", "question_of_column", "questions_to_text", "read_answers", "strip_frames",
    "study_attributes", "write_study_pack",
]
