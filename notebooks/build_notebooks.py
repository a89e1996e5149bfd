"""Write the three notebooks of this folder (without outputs) from the cell sources below.

Run `python notebooks/build_notebooks.py` after editing a cell here; the .ipynb files are generated
so that their code stays reviewable as plain Python. Every notebook's first cell reads
STYLEX_NOTEBOOK_TINY=1 (tiny sizes, used by the tests) and calls library functions only.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """import os
import tempfile
from pathlib import Path

import torch

TINY = os.environ.get("STYLEX_NOTEBOOK_TINY") == "1"  # tiny sizes for CI
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
WORK = Path(tempfile.mkdtemp(prefix="stylex_nb_")) if TINY else Path("notebook_out")
WORK.mkdir(exist_ok=True)
print("tiny mode" if TINY else "full mode", "| device", DEVICE, "| outputs in", WORK)"""

ALL_RESULTS = [
    new_markdown_cell("""# All results of one StylEx model

Choose a model, then run top to bottom: reconstructions, the top attributes as panels and
animations, sufficiency against the baselines, the distance of counterfactuals as k grows,
per-image explanations, and a user-study pack. By default the shipped demo model
(`models/world-smile`, see `models/README.md`) is used, so every result shows at once."""),
    new_code_cell(SETUP + """

# "shipped": the demo model in models/world-smile. "run": any run + its AttFind records file
# (made by `stylex train` and `stylex attfind`), set RECORDS below.
MODEL_TO_CHOOSE = "shipped"
RECORDS = "runs/mine/attfind/records.h5"
TOP_K = 2 if TINY else 6"""),
    new_code_cell("""import matplotlib.pyplot as plt
from IPython.display import Image, display

from stylex import evaluate, visualize
from stylex.attfind import load_context
from stylex.demo import SHIPPED_DIR, load_shipped

if MODEL_TO_CHOOSE == "shipped":
    ctx = load_shipped(DEVICE)
    RECORDS = SHIPPED_DIR / "attfind" / "records.h5"
    CHECKPOINT, CLASSIFIER = SHIPPED_DIR / "stylex.pt", SHIPPED_DIR / "classifier.pt"
else:
    ctx = load_context(RECORDS, DEVICE)
    CHECKPOINT = CLASSIFIER = None  # as recorded in the records file
editor, selection = ctx.editor(), ctx.selection
print(f"{ctx.records.num_images} analysed images, classes {ctx.records.class_names}, "
      f"{len(selection.attributes)} attributes ({selection.mode})")
for a in selection.attributes[:TOP_K]:
    print(f"  #{a.rank} {a.name:<16} {'to max' if a.direction else 'to min'} -> "
          f"{selection.class_names[a.toward_class]:<8} score {a.score:+.3f}")"""),
    new_code_cell("""# Checks (a notebook is also a test of the API it shows): a complete records file, attributes
# that name valid edits, and direction 0 moving a coordinate to its minimum over the images.
records = ctx.records
assert records.complete and editor.num_images == records.num_images > 0
assert selection.attributes and selection.class_names == records.class_names
for a in selection.attributes:
    assert 0 <= a.coordinate < records.space.size and a.direction in (0, 1)
    assert 0 <= a.toward_class < records.num_classes and a.name == records.space.name(a.coordinate)
a = selection.attributes[0]
column = int(records.full_index[a.coordinate])
s = float(editor.coordinate_values([0])[0, a.coordinate])
lowest, highest = editor.target(a.coordinate, 0), editor.target(a.coordinate, 1)
assert lowest == float(records.style_min[a.coordinate]) <= s <= highest == float(records.style_max[a.coordinate])
to_min = float(editor.edited([0], [(a.coordinate, 0)])[0, column])
assert abs(to_min - (s + records.shift * (lowest - s))) < 1e-5 and to_min <= s"""),
    new_markdown_cell("## Reconstructions\nTop: the analysed images; bottom: G(E(x)), what every edit starts from."),
    new_code_cell("""rows = list(range(min(8, editor.num_images)))
real, rec = editor.real_images(rows), editor.base_images(rows)
scale = visualize.display_scale(real.shape[-1])
grid = visualize.vstack([visualize.hstack([visualize.to_pil(x, scale) for x in real]),
                         visualize.hstack([visualize.to_pil(x, scale) for x in rec])])
grid"""),
    new_code_cell("""assert real.shape == rec.shape and len(rec) == len(rows) and real.min() >= -1 and real.max() <= 1
assert rec.min() >= -1 and rec.max() <= 1 and grid.size[0] >= len(rows) * real.shape[-1]"""),
    new_markdown_cell("## Top attributes: panels and animations"),
    new_code_cell("""explain_dir = visualize.write_explanations(editor, selection, WORK / "explain", top_k=TOP_K,
                                         n_examples=2 if TINY else 4, n_images=1 if TINY else 4,
                                         gif_frames=3 if TINY else 16).parent
display(Image(filename=str(explain_dir / "summary.png")))
for a in selection.attributes[:TOP_K]:
    display(Image(filename=str(explain_dir / f"attribute_{a.rank:02d}.gif")))"""),
    new_code_cell("""shown = selection.attributes[:TOP_K]
for name in ["index.html", "summary.png", *[f"attribute_{a.rank:02d}.{ext}" for a in shown for ext in ("png", "gif")]]:
    assert (explain_dir / name).is_file(), name"""),
    new_markdown_cell("""## Sufficiency against the baselines
Share of decisions that flip when the top-k attributes change together, against k random
coordinates and Wu et al.'s most class-separating coordinates."""),
    new_code_cell("""result = evaluate.baselines(editor, selection, top_k=TOP_K, seeds=1 if TINY else 5)
for method in ("attfind", "wu", "random"):
    curve = result[method]["curve"]
    plt.plot([p["k"] for p in curve], [p["flip_rate"] for p in curve], "o-", label=method)
plt.xlabel("k")
plt.ylabel("flip rate")
plt.ylim(-0.02, 1.02)
plt.legend()
plt.show()
{m: result[m]["flip_rate"] for m in ("attfind", "wu", "random")}"""),
    new_code_cell("""for method in ("attfind", "wu", "random"):
    r = result[method]
    assert [p["k"] for p in r["curve"]] == list(range(1, TOP_K + 1)) and r["flip_rate"] == r["curve"][-1]["flip_rate"]
    assert all(0 <= p["flip_rate"] <= 1 for p in r["curve"]) and r["n_pairs"] >= 1
# flip rates are counts of (image, class) pairs
assert all(p["flip_rate"] == p["flips"] / result["attfind"]["n_pairs"] for p in result["attfind"]["curve"])"""),
    new_markdown_cell("""## Counterfactual distance as k grows
The Fréchet distance of the edited images to the real ones (k = 0: the reconstructions): small
steps mean the counterfactuals stay realistic."""),
    new_code_cell("""rec = evaluate.reconstruction(editor, selection, top_k=TOP_K)
name = "fid" if "fid" in rec else "fd_classifier"
curve = rec["counterfactual_curve"]
plt.plot([p["k"] for p in curve], [p[name] for p in curve], "o-")
plt.xlabel("k")
plt.ylabel(name)
plt.show()
{k: rec[k] for k in ("agreement", "kl", "l1", name)}"""),
    new_code_cell("""assert [p["k"] for p in curve] == list(range(TOP_K + 1)) and curve[0][name] == rec[name]
assert 0 <= rec["agreement"] <= 1 and rec["kl"] >= -1e-6 and rec["l1"] >= 0
assert rec["n_images"] == records.num_images"""),
    new_markdown_cell("## Per-image explanations"),
    new_code_cell("""for row in range(1 if TINY else 3):
    display(visualize.image_figure(editor, selection, row, top_k=min(5, TOP_K)))"""),
    new_markdown_cell("""## A user-study pack
The paper's classification and verbal studies (see `all_user_studies/README.md`); analyse the
answers with `stylex user-study analyze`."""),
    new_code_cell("""from stylex.user_study import build_study_pack

pack = build_study_pack(RECORDS, out=WORK / "study", checkpoint=CHECKPOINT, classifier=CLASSIFIER, device=DEVICE,
                        questions=2 if TINY else 12, attributes=2 if TINY else 6, frames=3 if TINY else 16,
                        overwrite=True)
print(pack.directory, "|", len(pack.key["questions"]), "questions")
print((pack.directory / "survey_questions.txt").read_text()[:600])"""),
    new_code_cell("""# Checks: numbered questions of the two studies, at most `questions` of each, and the pack's files.
numbers = [q["number"] for q in pack.key["questions"]]
assert numbers == list(range(1, len(numbers) + 1))
for study in ("classification", "verbal"):
    assert 1 <= sum(q["study"] == study for q in pack.key["questions"]) <= (2 if TINY else 12), study
assert (pack.directory / "key.json").is_file() and (pack.directory / "survey_questions.txt").is_file()"""),
]

RUN_ATTFIND = [
    new_markdown_cell("""# Run AttFind

Compute the AttFind records (every StyleSpace coordinate's effect on the classifier, per image)
for a trained model and a set of images, then select the attributes, with `stylex.run_attfind`:
the same function `stylex attfind` calls, so the same checks (the classifier is the one the model
was trained for), the same seeded sample of images and the same records file (resumable: run it
again after an interruption). The default is the shipped demo model on freshly generated world
faces; set `CHECKPOINT`, `CLASSIFIER` and `DATA` for yours. The command line adds multi-GPU
sharding (torchrun)."""),
    new_code_cell(SETUP),
    new_code_cell("""from stylex.demo import SHIPPED_DIR

CHECKPOINT = SHIPPED_DIR / "stylex.pt"   # a run directory or a checkpoint file
CLASSIFIER = SHIPPED_DIR / "classifier.pt"
DATA = None                              # a data spec; None: a fresh world (the shipped model's data, 32 px)
NUM_IMAGES = 2 if TINY else 50"""),
    new_code_cell("""import stylex
from stylex.attfind import SelectionOptions
from stylex.world import generate_world

if DATA is None:
    DATA = str(generate_world(WORK / "world", n=40 if TINY else 1000, resolution=32, seed=1))
found = stylex.run_attfind(out=WORK / "records.h5", run=CHECKPOINT, classifier=CLASSIFIER, data=DATA, split="test",
                           num_images=NUM_IMAGES, seed=0, device=DEVICE, overwrite=True,
                           selection=SelectionOptions(top_k=5))
records, selection = found.records, found.selection
print(f"{records.num_images} test images of {DATA}; {records.space.size} coordinates")
print("effects:", records.effect.shape, "(images, direction, coordinates, classes)")"""),
    new_code_cell("""import numpy as np

from stylex.api import sample_images
from stylex.datasets import open_dataset

# Checks: every image done, one effect per (image, direction, coordinate, class), finite; the
# images are the seeded sample of the split; the extremes are those of the analysed images' own
# coordinates; the provenance names the model and classifier.
test = open_dataset(DATA, records.images.shape[-1], split="test")
space = records.space
assert found.complete and records.num_images == min(NUM_IMAGES, len(test))
assert (records.image_index == sample_images(test, NUM_IMAGES, seed=0)[2]).all()
assert records.effect.shape == (records.num_images, 2, space.size, len(test.class_names))
assert np.isfinite(records.effect).all() and records.class_names == test.class_names
analysed = records.styles[:, records.full_index]
assert (records.style_min == analysed.min(0)).all() and (records.style_max == analysed.max(0)).all()
provenance = records.provenance
assert provenance.data == DATA and provenance.split == "test" and len(provenance.classifier_fingerprint) == 64"""),
    new_code_cell("""# The selection (Steps B-E) is in attributes.json beside the records; stylex.api.select re-runs it
# with other SelectionOptions.
print("attributes ->", found.attributes_path)
for a in selection.attributes:
    print(f"#{a.rank} {a.name:<16} {'to max' if a.direction else 'to min'} -> "
          f"{selection.class_names[a.toward_class]:<8} score {a.score:+.3f}  moves {a.images_moved} images")"""),
    new_code_cell("""from stylex.attfind import load_selection

assert 1 <= len(selection.attributes) <= 5 and [a.rank for a in selection.attributes] == list(
    range(1, len(selection.attributes) + 1))
scores = [a.score for a in selection.attributes]
assert scores == sorted(scores, reverse=True)
assert all(0 <= a.coordinate < space.size and a.direction in (0, 1) for a in selection.attributes)
assert load_selection(found.attributes_path).attributes == selection.attributes  # the file round-trips"""),
]

CLASSIFIER_TRAINING = [
    new_markdown_cell("""# Train and evaluate a classifier

The classifier StylEx will explain. Choose a data spec (`DATA`; see the README's data specs: a
world, `folder:DIR`, `celeba:DIR:ATTR`, ...); by default a world with a background shortcut is
generated, so the evaluation shows what a shortcut does. The command-line equivalents are
`stylex train-classifier` and `stylex eval-classifier`."""),
    new_code_cell(SETUP + """

DATA = None            # a data spec; None: a fresh synthetic world with a background shortcut
RESOLUTION = 32
ARCH = "small-cnn"     # small-cnn, resnet18 or mobilenet_v2
EPOCHS = 1 if TINY else 3"""),
    new_code_cell("""from stylex.world import generate_world

if DATA is None:
    DATA = str(generate_world(WORK / "world", n=200 if TINY else 4000, resolution=RESOLUTION,
                              shortcut="background:1.0", seed=0))
print("data:", DATA)"""),
    new_code_cell("""import matplotlib.pyplot as plt

from stylex.classifiers import train_classifier

report = train_classifier(DATA, RESOLUTION, WORK / "classifier.pt", arch=ARCH, epochs=EPOCHS, device=DEVICE)
history = report["history"]
plt.plot([h["epoch"] for h in history], [h["val_accuracy"] for h in history], "o-", label="validation")
plt.plot([h["epoch"] for h in history], [h["train_accuracy"] for h in history], "s--", label="train")
plt.xlabel("epoch")
plt.ylabel("accuracy")
plt.legend()
plt.show()
print("test accuracy", report["test_accuracy"])"""),
    new_code_cell("""assert len(history) == EPOCHS
assert 0 <= report["test_accuracy"] <= 1 and (WORK / "classifier.pt").is_file()"""),
    new_code_cell("""from stylex.classifiers import evaluate_classifier, load_classifier, shortcut_summary
from stylex.datasets import open_dataset

clf = load_classifier(WORK / "classifier.pt", DEVICE)
test_split = open_dataset(DATA, RESOLUTION, "test")
result = evaluate_classifier(clf, test_split, device=DEVICE)
print("confusion (rows: true, columns: predicted):", result["confusion"])
if "shortcut" in result:  # a world with a planted shortcut: its test split breaks it
    print(shortcut_summary(result["shortcut"]))"""),
    new_code_cell("""# Checks: the confusion matrix counts every test image once and agrees with the accuracy.
confusion = result["confusion"]
assert sum(map(sum, confusion)) == result["n"] == len(test_split)
assert abs(sum(confusion[i][i] for i in range(len(confusion))) / result["n"] - result["accuracy"]) < 1e-6
assert clf.class_names == test_split.class_names == result["class_names"]
if TINY:  # the default world plants a background shortcut, which the test split breaks
    assert result["shortcut"]["factor"] == "background" and result["shortcut"]["agreement_in_split"] < 1"""),
]


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    path = HERE / name
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    for name, cells in (("all_results_notebook.ipynb", ALL_RESULTS), ("run_attfind.ipynb", RUN_ATTFIND),
                        ("classifier_training.ipynb", CLASSIFIER_TRAINING)):
        print("wrote", write(name, cells))
