"""Turn a downloaded public dataset into the folder layout that stylex.datasets reads.

Real datasets arrive as archives (zip / tar) or folders in many shapes (the official release, a
Kaggle mirror, nested copies). This module holds the shared plumbing (download with a clear
offline error, safe extraction, resize-and-copy with a progress bar, a manifest) and one small
`Recipe` per dataset that knows where its files are and what layout to write, so the scripts in
`data/<dataset>/` and `stylex prepare` stay thin. Images are written as files (not tensors):
optionally center-cropped and resized to a power-of-two resolution, otherwise copied unchanged.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from stylex.config import resolution_problem
from stylex.errors import StylexError

MANIFEST_NAME = "prepare_manifest.json"


# ----------------------------------------------------------------------------------------------
# Downloading


@dataclass(frozen=True)
class Download:
    """A file that can be fetched without a login.

    url: where it is fetched from; filename: its name in the download folder (and the name the
    recipe looks for among --archive inputs, so a copy brought by hand is used instead);
    what: a few words for messages.
    """

    url: str
    filename: str
    what: str


def download(item: Download, folder: Path, timeout: float = 30.0) -> Path:
    """Fetch `item` into `folder` (kept there; an existing copy is reused) with a progress bar.

    Any network failure becomes one StylexError line saying what is missing, where it comes
    from and where to put it, so an offline machine gets an actionable message, not a traceback.
    """
    from stylex.runtime import atomic_output

    dest = folder / item.filename
    if dest.is_file():
        return dest
    try:
        request = urllib.request.Request(item.url, headers={"User-Agent": "stylex-prepare"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            # The folder is made (by atomic_output) only once the source answers.
            with (atomic_output(dest) as part, open(part, "wb") as f,
                  tqdm(total=total, unit="B", unit_scale=True, desc=item.filename) as bar):
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise StylexError(
            f"could not download {item.what} from {item.url} ({reason}); this machine may be offline: "
            f"fetch that file on a machine with internet access and put it at {dest} "
            f"(or pass it with --archive FILE), then run the same command again"
        ) from exc
    return dest


# ----------------------------------------------------------------------------------------------
# Archives and finding files


def unpack(source: Path, work: Path) -> Path:
    """Return a folder or file to search: a folder or plain file as is, an archive extracted.

    zip and tar (any compression) are recognised by content, not by name. Extraction refuses
    paths that leave the target folder (zipfile strips them; tar uses the 'data' filter).
    """
    if not source.exists():
        raise StylexError(f"--archive {source} does not exist")
    if source.is_dir():
        return source
    target = work / source.name
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                for member in tqdm(zf.infolist(), desc=f"extract {source.name}", unit="file"):
                    zf.extract(member, target)
            return target
        if tarfile.is_tarfile(source):
            with tarfile.open(source) as tf:
                for member in tqdm(tf, desc=f"extract {source.name}", unit="file"):
                    tf.extract(member, target, filter="data")
            return target
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise StylexError(
            f"--archive {source} could not be extracted ({type(exc).__name__}: {exc}); "
            "it is truncated, corrupt or unsafe: download it again"
        ) from exc
    return source  # a loose file, e.g. a labels CSV


def walk_files(roots: list[Path]) -> list[Path]:
    """Every file under the given folders (and the given loose files), in sorted, stable order."""
    found = []
    for root in roots:
        if root.is_file():
            found.append(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__MACOSX"))]
            found += [Path(dirpath) / f for f in filenames if not f.startswith(".")]
    return sorted(found, key=lambda p: p.as_posix())


def find_named(files: list[Path], names: tuple[str, ...]) -> Path | None:
    """The first file whose name is one of `names` (case-insensitive), or None."""
    wanted = {n.lower() for n in names}
    return next((f for f in files if f.name.lower() in wanted), None)


# ----------------------------------------------------------------------------------------------
# Writing images


def lower_suffix(name: str) -> str:
    """`IMG_01.JPG` -> `IMG_01.jpg`: one spelling of each extension in prepared folders."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{ext.lower()}" if dot else name


def _write_one(src: Path, dst: Path, resolution: int | None) -> str | None:
    """Copy `src` to `dst`, or center-crop + resize it when it is not resolution x resolution already.

    Returns the reason a file could not be read, or None. Files already at the size (or with
    resolution None) are copied byte for byte, after a header check: no re-encoding loss.
    """
    from PIL import Image

    from stylex.datasets.images import DECODE_ERRORS, resize_center_crop, to_rgb
    from stylex.runtime import atomic_output

    if dst.exists():  # finished by an earlier, interrupted run (files appear atomically)
        return None
    try:
        with atomic_output(dst) as tmp, Image.open(src) as im:
            if resolution is None or im.size == (resolution, resolution):
                shutil.copyfile(src, tmp)
            else:
                im.load()
                out = resize_center_crop(to_rgb(im), resolution)
                out.save(tmp, format=Image.registered_extensions().get(dst.suffix.lower(), "PNG"), quality=95)
        return None
    except DECODE_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"


def write_images(
    pairs: list[tuple[Path, Path]], resolution: int | None, workers: int, desc: str
) -> tuple[list[Path], list[str]]:
    """Write every (source, destination) pair; return (destinations written, 'file: reason' of bad ones).

    A corrupt or unreadable source is skipped and reported, never fatal, because public dumps
    contain a few. Threads help because PIL releases the GIL while decoding and resizing.
    """
    for parent in {dst.parent for _, dst in pairs}:
        parent.mkdir(parents=True, exist_ok=True)
    written, bad = [], []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(lambda p: _write_one(p[0], p[1], resolution), pairs)
        for (src, dst), problem in tqdm(zip(pairs, results), total=len(pairs), desc=desc, unit="img"):
            if problem:
                bad.append(f"{src}: {problem}")
            else:
                written.append(dst)
    if pairs and not written:
        raise StylexError(f"{desc}: none of the {len(pairs)} images could be read or written; first: {bad[0]}")
    return written, bad


# ----------------------------------------------------------------------------------------------
# The recipes: where each dataset's files are, and the layout written


@dataclass(frozen=True)
class Recipe:
    """How to prepare one dataset.

    name: the `stylex prepare` name; title: a human name; downloads: files fetched when not given
    with --archive; manual: steps for the files that need a login (empty when none), shown when
    they are missing; convert(files, out, resolution, workers) -> manifest entries; it writes the
    layout into `out`; default_resolution: used when --resolution is not given (None: keep size);
    spec: the --data spec that reads the result, with `{out}` for the folder.
    """

    name: str
    title: str
    downloads: tuple[Download, ...]
    manual: str
    convert: Callable[[list[Path], Path, int | None, int], dict]
    default_resolution: int | None = None
    spec: str = "{out}"


def _read_table(path: Path) -> list[list[str]]:
    """Rows of a CSV (comma) or of a whitespace-separated text table."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return [row for row in csv.reader(text.splitlines()) if row]
    return [line.split() for line in text.splitlines() if line.strip()]


def _missing(what: str, where: str, files: list[Path]) -> StylexError:
    inputs = sorted({str(f.parent) for f in files})[:3]
    return StylexError(f"no {what} found in the given inputs ({', '.join(inputs) or 'nothing'}); {where}")


# CelebA ---------------------------------------------------------------------------------------

CELEBA_IMAGE = re.compile(r"\d{6}\.jpg", re.IGNORECASE)


def _celeba_attributes(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Attribute names and {filename: ['-1'|'1', ...]} from the official .txt or Kaggle's .csv."""
    rows = _read_table(path)
    if path.suffix.lower() == ".csv":  # header: image_id,5_o_Clock_Shadow,...
        names, body = rows[0][1:], rows[1:]
    else:  # line 1: count; line 2: the 40 names; then 'file v1 ... v40'
        names, body = rows[1], rows[2:]
    table = {r[0]: r[1:] for r in body if len(r) == len(names) + 1}
    if not table:
        raise StylexError(f"{path} has no attribute rows in the CelebA format (file name, then {len(names)} values)")
    return names, table


def convert_celeba(files: list[Path], out: Path, resolution: int | None, workers: int) -> dict:
    """Write img_align_celeba/, list_attr_celeba.txt and list_eval_partition.txt (official format).

    Accepts the official Google Drive files (txt) and the Kaggle mirror (csv); only images that
    have both an attribute row and a partition entry are kept, and the text files list exactly
    the images written.
    """
    attr_file = find_named(files, ("list_attr_celeba.txt", "list_attr_celeba.csv"))
    part_file = find_named(files, ("list_eval_partition.txt", "list_eval_partition.csv"))
    where = "it is in the CelebA download (Anno/ and Eval/ of the Google Drive folder, or the Kaggle archive)"
    if attr_file is None:
        raise _missing("list_attr_celeba.txt (or .csv)", where, files)
    if part_file is None:
        raise _missing("list_eval_partition.txt (or .csv)", where, files)
    names, attrs = _celeba_attributes(attr_file)
    partition = {r[0]: r[1] for r in _read_table(part_file) if len(r) == 2 and r[1] in ("0", "1", "2")}
    images = {}
    for f in files:
        if CELEBA_IMAGE.fullmatch(f.name):
            images.setdefault(f.name.lower(), f)
    keep = sorted(n for n in images if n in attrs and n in partition)
    if not keep:
        raise _missing(
            "CelebA images (000001.jpg ...) with attribute and partition entries",
            "add img_align_celeba.zip (or the Kaggle archive) with --archive",
            files,
        )
    written, bad = write_images(
        [(images[n], out / "img_align_celeba" / n) for n in keep], resolution, workers, "celeba"
    )
    done = {p.name for p in written}
    keep = [n for n in keep if n in done]
    lines = [str(len(keep)), " ".join(names)] + [f"{n} " + " ".join(f"{int(v):2d}" for v in attrs[n]) for n in keep]
    (out / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (out / "list_eval_partition.txt").write_text("".join(f"{n} {partition[n]}\n" for n in keep))
    splits = Counter({"0": "train", "1": "val", "2": "test"}[partition[n]] for n in keep)
    positives = {a: sum(attrs[n][i] == "1" for n in keep) for i, a in enumerate(names)}
    return {"images": len(keep), "splits": dict(splits), "attribute_positives": positives, "bad_files": bad}


# FFHQ + FFHQ-Aging labels -----------------------------------------------------------------------

FFHQ_IMAGE = re.compile(r"(\d{5})\.(png|jpg|jpeg)", re.IGNORECASE)
FFHQ_LABELS = "ffhq_aging_labels.csv"


def convert_ffhq(files: list[Path], out: Path, resolution: int | None, workers: int) -> dict:
    """Write images/NNNNN.<ext> and ffhq_aging_labels.csv (rows only for images written).

    Accepts the Kaggle 256 px mirror (resized/00000.jpg) and NVIDIA's release
    (images1024x1024/00000/00000.png or thumbnails128x128/...); image_number in the labels CSV
    is matched to the 5-digit file name.
    """
    labels_file = find_named(files, (FFHQ_LABELS,))
    if labels_file is None:
        raise _missing(FFHQ_LABELS, f"get it from {FFHQ_LABELS_URL} and add it with --archive", files)
    with open(labels_file, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        rows = {int(r["image_number"]): r for r in reader if (r.get("image_number") or "").strip().isdigit()}
    if not {"image_number", "gender", "age_group"} <= set(fields):
        raise StylexError(
            f"{labels_file}: expected the FFHQ-Aging columns image_number, gender, age_group; found {', '.join(fields)}"
        )
    images = {}
    for f in files:
        m = FFHQ_IMAGE.fullmatch(f.name)
        if m and int(m.group(1)) in rows:
            images.setdefault(int(m.group(1)), f)
    if not images:
        raise _missing(
            "FFHQ images (00000.png / 00000.jpg ...) listed in the labels CSV",
            "add the FFHQ images archive or folder with --archive",
            files,
        )
    pairs = [(images[i], out / "images" / lower_suffix(images[i].name)) for i in sorted(images)]
    written, bad = write_images(pairs, resolution, workers, "ffhq")
    done = sorted(int(p.stem) for p in written)
    with open(out / FFHQ_LABELS, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows[i] for i in done)
    return {
        "images": len(done),
        "gender": dict(sorted(Counter(rows[i]["gender"] for i in done).items())),
        "age_group": dict(sorted(Counter(rows[i]["age_group"] for i in done).items())),
        "bad_files": bad,
    }


# Folders of classes (Plant-Village, AFHQ) -------------------------------------------------------


def _class_folders(files: list[Path], is_class: Callable[[str], bool]) -> dict[Path, dict[str, list[Path]]]:
    """{parent folder: {class folder name: [images]}} for folders whose name passes `is_class`."""
    from stylex.datasets.images import is_image_file

    trees: dict[Path, dict[str, list[Path]]] = {}
    for f in files:
        if is_image_file(f) and is_class(f.parent.name):
            trees.setdefault(f.parent.parent, {}).setdefault(f.parent.name, []).append(f)
    return trees


def _copy_classes(
    classes: dict[str, list[Path]], out: Path, resolution: int | None, workers: int, desc: str
) -> tuple[dict[str, int], list[str]]:
    """Write out/<key>/<file> per key (a class folder: `cat` or `train/cat`); counts per key, bad files."""
    pairs = [(src, out / key / lower_suffix(src.name)) for key in sorted(classes) for src in classes[key]]
    if len({dst for _, dst in pairs}) != len(pairs):
        raise StylexError(f"{desc}: two source images would get the same name in {out}; give one copy of the dataset")
    written, bad = write_images(pairs, resolution, workers, desc)
    return dict(sorted(Counter(p.parent.relative_to(out).as_posix() for p in written).items())), bad


def convert_plant_village(files: list[Path], out: Path, resolution: int | None, workers: int) -> dict:
    """Write out/<Plant>___<condition>/ folders; `plant-village:DIR` reads ___healthy ones as healthy, others as sick.

    Folders without '___' (e.g. Mendeley's Background_without_leaves) are left out and listed in the
    manifest (a copy that spells classes differently shows up there). Where a copy
    holds several versions of the tree (Kaggle: color / grayscale / segmented), 'color' is used.
    """
    trees = _class_folders(files, lambda name: "___" in name)
    if not trees:
        raise _missing(
            "Plant-Village class folders named <Plant>___<condition> (e.g. Apple___healthy)",
            "pass the Plant-Village zip or its extracted folder with --archive",
            files,
        )
    colour = [p for p in trees if p.name.lower() == "color"]
    root = colour[0] if colour else max(trees, key=lambda p: sum(len(v) for v in trees[p].values()))
    counts, bad = _copy_classes(trees[root], out, resolution, workers, "plant_village")
    healthy = sum(n for c, n in counts.items() if c.lower().endswith("___healthy"))
    left_out = sorted({f.parent.name for f in files if f.parent.parent == root and f.parent.name not in counts})
    return {
        "images": sum(counts.values()),
        "classes": counts,
        "source_tree": str(root),
        "healthy": healthy,
        "sick": sum(counts.values()) - healthy,
        "left_out_folders": left_out,
        "bad_files": bad,
    }


AFHQ_CLASSES = ("cat", "dog", "wild")
AFHQ_SPLITS = {"train": "train", "val": "val", "test": "val"}  # AFHQ v2 calls its held-out part test


def convert_afhq(files: list[Path], out: Path, resolution: int | None, workers: int) -> dict:
    """Write out/train/{cat,dog,wild} and out/val/{cat,dog,wild}, the official split that `afhq:DIR` keeps
    (val is held out as test), or out/{cat,dog,wild} for a copy without train/val folders."""
    trees = _class_folders(files, lambda name: name.lower() in AFHQ_CLASSES)
    split_trees = {p: t for p, t in trees.items() if p.name.lower() in AFHQ_SPLITS}
    classes: dict[str, list[Path]] = {}
    for parent, tree in (split_trees or trees).items():
        prefix = f"{AFHQ_SPLITS[parent.name.lower()]}/" if split_trees else ""
        for name, images in tree.items():
            classes.setdefault(prefix + name.lower(), []).extend(images)
    found = sorted({key.rpartition("/")[2] for key in classes})
    if found != list(AFHQ_CLASSES):
        raise _missing(
            f"AFHQ folders {'/'.join(AFHQ_CLASSES)} (found: {', '.join(found) or 'none'})",
            "pass afhq.zip or its extracted folder with --archive",
            files,
        )
    counts, bad = _copy_classes(classes, out, resolution, workers, "afhq")
    return {"images": sum(counts.values()), "classes": counts, "bad_files": bad}


CELEBA_MANUAL = """CelebA needs a manual download (Google Drive or a Kaggle login):
  official: https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html -> "Align&Cropped Images" (Google Drive):
            Img/img_align_celeba.zip, Anno/list_attr_celeba.txt, Eval/list_eval_partition.txt
  or Kaggle: kaggle datasets download -d jessicali9530/celeba-dataset   (gives celeba-dataset.zip)
then:
  stylex prepare celeba --out OUT --archive img_align_celeba.zip --archive list_attr_celeba.txt \\
      --archive list_eval_partition.txt
  or: stylex prepare celeba --out OUT --archive celeba-dataset.zip"""

FFHQ_LABELS_URL = "https://raw.githubusercontent.com/royorel/FFHQ-Aging-Dataset/master/ffhq_aging_labels.csv"
FFHQ_MANUAL = (
    """FFHQ images need a manual download (a Kaggle login or NVIDIA's Google Drive):
  256 px, Kaggle: kaggle datasets download -d xhlulu/flickrfaceshq-dataset-nvidia-resized-256px
  or NVIDIA:      https://github.com/NVlabs/ffhq-dataset (images1024x1024 or thumbnails128x128)
the FFHQ-Aging labels are fetched automatically from
  """
    + FFHQ_LABELS_URL
    + """
then:
  stylex prepare ffhq --out OUT --archive flickrfaceshq-dataset-nvidia-resized-256px.zip"""
)

RECIPES = {
    r.name: r
    for r in (
        Recipe("celeba", "CelebA (aligned and cropped)", (), CELEBA_MANUAL, convert_celeba, spec="celeba:{out}:Male"),
        Recipe(
            "ffhq",
            "FFHQ with the FFHQ-Aging labels",
            (Download(FFHQ_LABELS_URL, FFHQ_LABELS, "the FFHQ-Aging labels CSV"),),
            FFHQ_MANUAL,
            convert_ffhq,
            default_resolution=256,
            spec="ffhq-aging:{out}:gender",
        ),
        Recipe(
            "plant_village",
            "Plant-Village (healthy vs sick leaves)",
            (
                Download(
                    "https://data.mendeley.com/public-files/datasets/tywbtsjrjv/files/"
                    "d5652a28-c1d8-4b76-97f3-72fb80f94efc/file_downloaded",
                    "plant_village.zip",
                    "the Plant-Village zip (Mendeley Data)",
                ),
            ),
            "",
            convert_plant_village,
            spec="plant-village:{out}",
        ),
        Recipe(
            "afhq",
            "AFHQ (cat / dog / wild)",
            (
                Download(
                    "https://www.dropbox.com/s/t9l9o3vsx2jai3z/afhq.zip?dl=1",
                    "afhq.zip",
                    "the AFHQ zip (StarGAN v2 release, Dropbox)",
                ),
            ),
            "",
            convert_afhq,
            spec="afhq:{out}",
        ),
    )
}


# ----------------------------------------------------------------------------------------------
# The driver


def _check_out(out: Path, name: str, resolution: int | None) -> None:
    """Refuse to mix two preparations in one folder; a same-settings rerun resumes."""
    if not out.exists() or not any(out.iterdir()):
        return
    manifest = out / MANIFEST_NAME
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        if old.get("dataset") == name and old.get("resolution") == resolution:
            return
        raise StylexError(
            f"--out {out} already holds {old.get('dataset')} at resolution {old.get('resolution')}; "
            "choose another --out folder or delete that one"
        )
    raise StylexError(f"--out {out} is not empty and was not written by stylex prepare; choose an empty folder")


def prepare(
    name: str,
    out: str | Path,
    archives: list[str | Path] = (),
    resolution: int | None = None,
    download_dir: str | Path | None = None,
    workers: int = 4,
) -> dict:
    """Prepare dataset `name` into `out` and return its manifest (also written to out/prepare_manifest.json).

    name: a key of RECIPES; out: the folder to write (created; a rerun with the same settings
    resumes); archives: downloaded archives, folders or loose files to use instead of
    downloading; resolution: power-of-two size to center-crop and resize to (None: the recipe's
    default, and if that is None too, copy the images unchanged); download_dir: where downloads
    are kept (default: a `downloads` folder beside `out`); workers: threads writing images.
    """
    if name not in RECIPES:
        raise StylexError(f"unknown dataset {name!r}; choose one of {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    out = Path(out)
    resolution = resolution or recipe.default_resolution
    problem = None if resolution is None else resolution_problem(int(resolution))
    if problem:
        raise StylexError(f"--resolution {problem}")
    if recipe.manual and not archives:
        print(recipe.manual)
        raise StylexError(
            f"{recipe.title} needs files that cannot be downloaded without a login; "
            "follow the steps printed above and pass them with --archive FILE"
        )
    _check_out(out, name, resolution)
    folder = Path(download_dir) if download_dir else out.parent / "downloads"
    work = out.parent / f".{out.name}.extracting"
    try:
        sources = [Path(a) for a in archives]
        files = walk_files([unpack(s, work) for s in sources])
        if not archives or recipe.manual:  # given archives replace downloads, except beside a manual part
            for item in recipe.downloads:
                if find_named(files, (item.filename,)) is None:
                    sources.append(download(item, folder))
                    files += walk_files([unpack(sources[-1], work)])
        out.mkdir(parents=True, exist_ok=True)
        manifest = {
            "dataset": name,
            "title": recipe.title,
            "resolution": resolution,
            "complete": False,
            "sources": [str(s) for s in sources],
        }
        (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
        counts = recipe.convert(files, out, resolution, workers)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    manifest.update(
        counts, complete=True, spec=recipe.spec.format(out=out), prepared_at=time.strftime("%Y-%m-%dT%H:%M:%S%z")
    )
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
