"""`stylex prepare`: fake archives of each public dataset -> the layout stylex.datasets reads.

Nothing here touches the network: downloads are exercised through a monkeypatched urlopen.
Budget: a few seconds in total (tiny images, a handful per class).
"""

import io
import json
import runpy
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from stylex.cli import main
from stylex.datasets import open_dataset
from stylex.errors import StylexError
from stylex.prepare import MANIFEST_NAME, prepare

REPO = Path(__file__).resolve().parents[1]


def _img(path: Path, color=(200, 40, 40), size=(24, 18)) -> Path:
    """A small solid image; the format follows the extension (upper-case extensions too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _zip(folder: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for f in sorted(folder.rglob("*")):
            zf.write(f, f.relative_to(folder.parent).as_posix())
    return dest


def _tar(folder: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        tf.add(folder, arcname=folder.name)
    return dest


def _manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST_NAME).read_text())


def test_afhq_zip_keeps_official_split_and_resizes(tmp_path):
    src = tmp_path / "afhq"
    for split, n in (("train", 3), ("val", 1)):
        for k, cls in enumerate(("cat", "dog", "wild")):
            for i in range(n):
                _img(src / split / cls / f"flickr_{cls}_{split}{i}.JPG", color=(80 * k, 50, 50))
    archive = _zip(src, tmp_path / "afhq.zip")
    out = tmp_path / "prepared"
    manifest = prepare("afhq", out, [archive], resolution=16, workers=2)

    assert manifest["classes"] == {f"{s}/{c}": n for s, n in (("train", 3), ("val", 1)) for c in ("cat", "dog", "wild")}
    assert manifest["images"] == 12 and manifest["resolution"] == 16 and manifest["complete"]
    written = sorted(out.rglob("*.jpg"))
    assert len(written) == 12 and all(Image.open(p).size == (16, 16) for p in written)
    assert not (tmp_path / ".prepared.extracting").exists()
    test = open_dataset(manifest["spec"], 16, "test")
    assert test.class_names == ["cat", "dog", "wild"] and sorted(test.labels.tolist()) == [0, 1, 2]


def test_plant_village_tar_uses_colour_tree_and_skips_non_classes(tmp_path):
    src = tmp_path / "plantvillage dataset"
    for tree in ("color", "grayscale"):
        _img(src / tree / "Apple___healthy" / "a1.JPG")
        _img(src / tree / "Apple___healthy" / "a2.jpg")
        _img(src / tree / "Apple___Black_rot" / "b1.PNG")
        _img(src / tree / "Tomato___Leaf_Mold" / "t1.jpeg")
    _img(src / "color" / "Background_without_leaves" / "bg.jpg")
    archive = _tar(src, tmp_path / "plants.tar.gz")
    out = tmp_path / "plants"
    manifest = prepare("plant_village", out, [archive], workers=1)

    assert manifest["classes"] == {"Apple___Black_rot": 1, "Apple___healthy": 2, "Tomato___Leaf_Mold": 1}
    assert (manifest["healthy"], manifest["sick"]) == (2, 2)
    assert Path(manifest["source_tree"]).name == "color"
    assert manifest["left_out_folders"] == ["Background_without_leaves"]
    assert (out / "Apple___Black_rot" / "b1.png").read_bytes() == (src / "color/Apple___Black_rot/b1.PNG").read_bytes()
    data = open_dataset(f"plant-village:{out}", 16, "all")
    assert data.class_names == ["healthy", "sick"] and sorted(data.labels.tolist()) == [0, 0, 1, 1]


def _celeba_tables(n_images: int):
    names = ["Male", "Smiling"]
    rows = [(f"{i:06d}.jpg", "1" if i % 2 else "-1", "-1") for i in range(1, n_images + 1)]
    parts = [(f"{i:06d}.jpg", str(i % 3)) for i in range(1, n_images + 1)]
    return names, rows, parts


@pytest.mark.parametrize("style", ["kaggle-csv", "official-txt"])
def test_celeba_both_distributions(tmp_path, style):
    names, rows, parts = _celeba_tables(6)
    src = tmp_path / "src"
    if style == "kaggle-csv":  # one zip: nested image folder plus CSV tables
        for name, *_ in rows[:-1]:  # the last listed image is missing: it must be dropped everywhere
            _img(src / "img_align_celeba" / "img_align_celeba" / name, size=(18, 22))
        (src / "list_attr_celeba.csv").write_text(
            "image_id," + ",".join(names) + "\n" + "".join(",".join(r) + "\n" for r in rows)
        )
        (src / "list_eval_partition.csv").write_text("image_id,partition\n" + "".join(f"{a},{b}\n" for a, b in parts))
        archives = [_zip(src, tmp_path / "celeba-dataset.zip")]
    else:  # the Google Drive files: an images zip and two loose text files
        for name, *_ in rows[:-1]:
            _img(src / "img_align_celeba" / name, size=(18, 22))
        attr = tmp_path / "list_attr_celeba.txt"
        attr.write_text(f"{len(rows)}\n" + " ".join(names) + "\n" + "".join(" ".join(r) + "\n" for r in rows))
        part = tmp_path / "list_eval_partition.txt"
        part.write_text("".join(f"{a} {b}\n" for a, b in parts))
        archives = [_zip(src / "img_align_celeba", tmp_path / "img_align_celeba.zip"), attr, part]
    out = tmp_path / "celeba"
    manifest = prepare("celeba", out, archives, resolution=16, workers=2)

    assert manifest["images"] == 5
    assert manifest["splits"] == {"train": 1, "val": 2, "test": 2}
    assert manifest["attribute_positives"] == {"Male": 3, "Smiling": 0}
    assert (out / "list_attr_celeba.txt").read_text().splitlines()[0] == "5"
    assert len((out / "list_eval_partition.txt").read_text().splitlines()) == 5
    train = open_dataset("celeba:" + str(out) + ":Male", 16, "train")
    assert train.class_names == ["not_Male", "Male"] and len(train) == 1
    assert tuple(train[0][0].shape) == (3, 16, 16)


def test_ffhq_folder_plus_labels_default_256(tmp_path):
    src = tmp_path / "images1024x1024"
    for i in range(4):
        _img(src / "00000" / f"{i:05d}.png", size=(32, 32))
    _img(src / "01000" / "01000.png", size=(32, 32))  # not in the labels: left out
    labels = tmp_path / "ffhq_aging_labels.csv"
    labels.write_text(
        "image_number,age_group,age_group_confidence,gender,gender_confidence\n"
        + "".join(f"{i},{['0-2', '50-69'][i % 2]},0.9,{['male', 'female'][i // 2 % 2]},0.99\n" for i in range(5))
    )
    out = tmp_path / "ffhq"
    manifest = prepare("ffhq", out, [src, labels], workers=2)

    assert manifest["resolution"] == 256 and manifest["images"] == 4
    assert manifest["gender"] == {"female": 2, "male": 2}
    assert Image.open(out / "images" / "00003.png").size == (256, 256)
    assert len((out / "ffhq_aging_labels.csv").read_text().splitlines()) == 5  # header + 4 rows with images
    data = open_dataset(manifest["spec"], 16, "all")
    assert data.class_names == ["female", "male"] and sorted(data.labels.tolist()) == [0, 0, 1, 1]


class _FakeResponse(io.BytesIO):
    """What urlopen returns, for a download that never leaves the machine."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_download_when_online_then_reuse(tmp_path, monkeypatch):
    src = tmp_path / "Plant_leave_diseases_dataset_without_augmentation"
    _img(src / "Corn___healthy" / "c.JPG")
    _img(src / "Corn___Common_rust" / "r.JPG")
    payload = _zip(src, tmp_path / "payload.zip").read_bytes()
    calls = []

    def fake_urlopen(request, timeout=None):
        calls.append(request.full_url)
        return _FakeResponse(payload)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    manifest = prepare("plant_village", tmp_path / "a" / "prepared", workers=1)
    assert manifest["images"] == 2 and len(calls) == 1 and "mendeley" in calls[0]
    assert (tmp_path / "a" / "downloads" / "plant_village.zip").read_bytes() == payload
    prepare("plant_village", tmp_path / "b", download_dir=tmp_path / "a" / "downloads", workers=1)
    assert len(calls) == 1  # the kept download is reused


def test_offline_download_is_one_clear_line(tmp_path, monkeypatch, capsys):
    def offline(request, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    out = tmp_path / "afhq" / "prepared"
    assert main(["prepare", "afhq", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "could not download the AFHQ zip" in err and "dropbox.com" in err
    assert str(tmp_path / "afhq" / "downloads" / "afhq.zip") in err and "--archive FILE" in err
    assert not out.exists() and not (tmp_path / "afhq" / "downloads").exists()


def test_login_only_sources_print_the_manual_steps(tmp_path, capsys):
    assert main(["prepare", "celeba", "--out", str(tmp_path / "celeba")]) == 2
    captured = capsys.readouterr()
    assert "kaggle datasets download -d jessicali9530/celeba-dataset" in captured.out
    assert "--archive FILE" in captured.err and captured.err.count("\n") == 1


def test_cli_skips_and_reports_bad_images(tmp_path, capsys):
    src = tmp_path / "afhq"
    for cls in ("cat", "dog", "wild"):
        _img(src / cls / f"{cls}.png")
    (src / "dog" / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert main(["prepare", "afhq", "--out", str(out), "--archive", str(src), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "3 images" in printed and "skipped 1 unreadable" in printed and f"--data afhq:{out}" in printed
    manifest = _manifest(out)
    assert manifest["classes"] == {"cat": 1, "dog": 1, "wild": 1}
    assert len(manifest["bad_files"]) == 1 and "broken.jpg" in manifest["bad_files"][0]


def test_out_folder_rules_and_unsafe_archive(tmp_path):
    src = tmp_path / "afhq"
    for cls in ("cat", "dog", "wild"):
        _img(src / cls / f"{cls}.png")
    out = tmp_path / "out"
    prepare("afhq", out, [src], workers=1)
    prepare("afhq", out, [src], workers=1)  # same settings: resumes / no-op
    with pytest.raises(StylexError, match="already holds afhq at resolution None"):
        prepare("afhq", out, [src], resolution=32, workers=1)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(StylexError, match="not empty"):
        prepare("afhq", tmp_path / "other", [src], workers=1)
    with pytest.raises(StylexError, match="--resolution 100 is not allowed"):
        prepare("afhq", tmp_path / "o1", [src], resolution=100, workers=1)
    with pytest.raises(StylexError, match="missing.zip does not exist"):
        prepare("afhq", tmp_path / "o2", [tmp_path / "missing.zip"], workers=1)

    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        tf.add(src / "cat" / "cat.png", arcname="../../escaped.png")
    with pytest.raises(StylexError, match="could not be extracted"):
        prepare("afhq", tmp_path / "o3", [evil], workers=1)
    assert not (tmp_path / "escaped.png").exists()


def test_missing_parts_name_what_to_add(tmp_path):
    labels = tmp_path / "ffhq_aging_labels.csv"
    labels.write_text("image_number,age_group,gender\n0,20-29,male\n")
    with pytest.raises(StylexError, match="no FFHQ images"):
        prepare("ffhq", tmp_path / "ffhq", [labels], workers=1)
    with pytest.raises(StylexError, match="no list_attr_celeba.txt"):
        prepare("celeba", tmp_path / "celeba", [labels], workers=1)


@pytest.mark.parametrize("dataset", ["celeba", "ffhq", "plant_village", "afhq"])
def test_dataset_folder_has_readme_and_script(dataset, monkeypatch, capsys):
    folder = REPO / "data" / dataset
    assert f"data/{dataset}/prepare.py" in (folder / "README.md").read_text()
    monkeypatch.setattr(sys, "argv", [str(folder / "prepare.py"), "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(folder / "prepare.py"), run_name="__main__")
    assert exit_info.value.code == 0
    assert "usage: stylex prepare [-h]" in capsys.readouterr().out
