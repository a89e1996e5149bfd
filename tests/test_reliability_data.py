"""Reliability: bad data. Odd or broken images are skipped with a count (or named, with
--on-bad-image fail); bad label files are one line naming the file and the row. Zero-byte files,
non-images with image extensions, truncated PNGs, CMYK and 16-bit images are covered in
test_datasets.py (test_bad_images_skip_with_count_or_fail, test_image_modes_become_rgb)."""

import warnings

import pytest
from PIL import Image
from reliability_files import one_line_error

from stylex.datasets import open_dataset
from stylex.errors import StylexError


def save(path, size=(8, 8), colour=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _open(spec, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = open_dataset(str(spec), 16, "all", **kwargs)
        items = [ds[i] for i in range(len(ds))]
    return ds, items, [str(w.message) for w in caught]


def test_odd_images_load_and_broken_ones_are_skipped(tmp_path, monkeypatch):
    for c in ("cat", "dog"):  # the same file names in both classes
        for i in range(2):
            save(tmp_path / c / f"{i}.png", colour=(200, 10, 10) if c == "cat" else (10, 10, 200))
    save(tmp_path / "cat" / "one-pixel.png", (1, 1))
    save(tmp_path / "dog" / "large.png", (3000, 2000), (10, 10, 200))
    Image.new("RGB", (64, 48), (10, 10, 200)).save(tmp_path / "dog" / "good.jpg", quality=90)
    jpeg = (tmp_path / "dog" / "good.jpg").read_bytes()
    (tmp_path / "dog" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    ds, items, warned = _open(tmp_path)
    names = [p.relative_to(tmp_path).as_posix() for p in ds.paths]
    assert {"cat/0.png", "dog/0.png", "cat/one-pixel.png", "dog/large.png"} <= set(names)
    assert [y for _, y in items] == [int(n.startswith("dog")) for n in names], "duplicate names keep their class"
    assert all(x.shape == (3, 16, 16) and -1 <= x.min() and x.max() <= 1 for x, _ in items)
    assert [p.name for p, _ in ds.bad_files] == ["truncated.jpg"]
    assert any("truncated.jpg" in w and "1 skipped" in w for w in warned)
    splits = dict(open_dataset(str(tmp_path), 16, "all").split_table())
    assert "cat/0.png" in splits and "dog/0.png" in splits
    with pytest.raises(StylexError, match="truncated.jpg"):
        _open(tmp_path, on_bad_image="fail")

    # A huge (decompression bomb) image is refused by PIL's pixel limit and skipped by name.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    ds, items, warned = _open(tmp_path)
    assert "large.png" in {p.name for p, _ in ds.bad_files}
    assert any("large.png" in w and "DecompressionBomb" in w for w in warned)


def test_labels_csv_problems_are_named(tmp_path):
    for i in range(4):
        save(tmp_path / "img" / f"{i}.png")

    def csv(name, text):
        (tmp_path / name).write_text("filename,label\n" + text)
        return f"csv:{tmp_path}:{name}"

    ds, items, warned = _open(csv("missing.csv", "img/0.png,a\nimg/1.png,b\nimg/gone.png,a\nimg/2.png,b\n"))
    assert len(items) == 3 and any("gone.png" in w and "file not found" in w for w in warned)
    with pytest.raises(StylexError, match="gone.png"):
        open_dataset(csv("missing.csv", "img/0.png,a\nimg/1.png,b\nimg/gone.png,a\n"), 16, "all",
                     on_bad_image="fail")
    with pytest.raises(StylexError, match=r"empty.csv line 3: empty filename or label"):
        open_dataset(csv("empty.csv", "img/0.png,a\nimg/1.png,\nimg/2.png,b\n"), 16, "all")
    with pytest.raises(StylexError, match=r"twice.csv: 1 file\(s\) listed more than once \(e.g. img/0.png\)"):
        open_dataset(csv("twice.csv", "img/0.png,a\nimg/0.png,b\nimg/2.png,b\n"), 16, "all")
    with pytest.raises(StylexError, match=r"split.csv: unknown split value\(s\) \['holdout'\]"):
        (tmp_path / "split.csv").write_text("filename,label,split\nimg/0.png,a,train\nimg/1.png,b,holdout\n")
        open_dataset(f"csv:{tmp_path}:split.csv", 16, "all")
    with pytest.raises(StylexError, match="noclass.csv: class\\(es\\) 'c' name only files that do not exist"):
        open_dataset(csv("noclass.csv", "img/0.png,a\nimg/1.png,b\nimg/9.png,c\n"), 16, "all", on_bad_image="skip")


def test_unknown_classes_and_factors(tmp_path, capsys):
    from stylex.world import generate_world

    world = generate_world(tmp_path / "world", n=8, resolution=32, label="smile", progress=False)
    with pytest.raises(StylexError, match="wings"):
        open_dataset(f"world:{world}:wings", 16)
    one_line_error(capsys, ["train-classifier", "--data", f"celeba:{tmp_path}:Smiling", "--out",
                            str(tmp_path / "c.pt"), "--device", "cpu"], "list_attr_celeba.txt")
