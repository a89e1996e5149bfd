"""Dataset adapters on small fake trees, image-mode robustness, bad images, stable splits."""

import csv
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from stylex.datasets import open_dataset
from stylex.errors import StylexError

RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)


def save(path, colour=RED, size=(24, 24), mode="RGB", fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).convert(mode).save(path, format=fmt)
    return path


def mean_colour(x):
    """[3, R, R] in [-1, 1] -> mean 0..255 RGB."""
    return ((x.mean(dim=(1, 2)) + 1) * 127.5).round().tolist()


def make_tree(root, per_class):
    """root/<class>/<name> with the class's colour; names given out of order on purpose."""
    colours = {"cat": RED, "dog": BLUE, "wild": GREEN}
    for cls, names in per_class.items():
        for name in names:
            save(root / cls / name, colours[cls])
    return root


def test_folder_dataset_sorted_labels_and_pixels(tmp_path):
    root = make_tree(tmp_path / "d", {"dog": ["z.png", "b.PNG", "a.jpeg"], "cat": ["y.JPG", "c.png"]})
    (root / "dog" / "notes.txt").write_text("not an image")
    ds = open_dataset(str(root), 16, split="all")
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2 and len(ds) == 5
    assert [p.relative_to(root).as_posix() for p in ds.paths] == [
        "cat/c.png", "cat/y.JPG", "dog/a.jpeg", "dog/b.PNG", "dog/z.png"]
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and -1 <= x.min() <= x.max() <= 1
        assert y == ds.labels[i]
        r, _, b = mean_colour(x)
        assert (r > b) == (y == 0), "each label must come with its own class's image"
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=5)))
    assert batch[0].shape == (5, 3, 16, 16) and batch[1].tolist() == [0, 0, 1, 1, 1]


def test_image_modes_become_rgb(tmp_path):
    root = tmp_path / "modes" / "a"
    save(root / "gray.png", (100, 100, 100), mode="L")
    save(root / "palette.png", RED, mode="P")
    save(root / "cmyk.jpg", BLUE, mode="CMYK", fmt="JPEG")
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red -> white
    rgba.save(root / "rgba.png")
    Image.fromarray(np.full((8, 8), 65535 // 2, dtype=np.uint16)).save(root / "gray16.png")
    Image.fromarray(np.full((8, 8), 200, dtype=np.uint8), "L").convert("LA").save(root / "la.png")
    Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32), "F").save(root / "float01.tif")
    Image.fromarray(np.full((8, 8), 100.0, dtype=np.float32), "F").save(root / "float255.tif")
    Image.fromarray(np.full((8, 8), 65535 // 2, dtype=np.int32), "I").save(root / "int32_16bit.tif")
    save(tmp_path / "modes" / "b" / "x.png")
    ds = open_dataset(str(tmp_path / "modes"), 8, split="all")
    colours = {p.name: mean_colour(ds[i][0]) for i, p in enumerate(ds.paths)}
    assert colours["gray.png"] == [100, 100, 100]
    assert colours["palette.png"][0] > 200 and colours["palette.png"][2] < 40
    assert colours["cmyk.jpg"][2] > 180 and colours["cmyk.jpg"][0] < 60
    assert colours["rgba.png"] == [255, 255, 255]
    assert all(abs(c - 128) <= 1 for c in colours["gray16.png"]), "16-bit must be scaled, not clipped"
    assert colours["la.png"] == [200, 200, 200]
    assert all(abs(c - 128) <= 1 for c in colours["float01.tif"]), "a float image in [0, 1] must not turn black"
    assert colours["float255.tif"] == [100, 100, 100]
    assert all(abs(c - 128) <= 1 for c in colours["int32_16bit.tif"]), "32-bit values above 255 read as 16-bit"


def test_resize_and_center_crop(tmp_path):
    img = np.zeros((20, 60, 3), np.uint8)
    img[:, :20] = RED
    img[:, 20:40] = GREEN
    img[:, 40:] = BLUE
    (tmp_path / "w" / "a").mkdir(parents=True)
    Image.fromarray(img).save(tmp_path / "w" / "a" / "wide.png")
    save(tmp_path / "w" / "b" / "x.png")
    ds = open_dataset(str(tmp_path / "w"), 16, split="all")
    r, g, b = mean_colour(ds[0][0])
    assert g > 150 and r < 60 and b < 60, "the centre (green) third must be kept"


def test_csv_dataset_names_integers_and_split_column(tmp_path):
    for i in range(6):
        save(tmp_path / "imgs" / f"{i}.png", RED if i % 2 else BLUE)
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "label", "split"])
        for i in reversed(range(6)):
            w.writerow([f"imgs/{i}.png", "odd" if i % 2 else "even", "test" if i < 2 else "train"])
    ds = open_dataset(f"csv:{tmp_path}:labels.csv", 8, split="test")
    assert ds.class_names == ["even", "odd"] and ds.labels.tolist() == [0, 1]
    assert len(open_dataset(f"csv:{tmp_path}:labels.csv", 8, split="train")) == 4
    (tmp_path / "ints.csv").write_text("filename,label\nimgs/0.png,2\nimgs/1.png,0\nimgs/2.png,1\n")
    ds = open_dataset(f"csv:{tmp_path}:ints.csv", 8, split="all")
    assert ds.class_names == ["0", "1", "2"] and ds.labels.tolist() == [2, 0, 1]
    outside = save(tmp_path.parent / f"{tmp_path.name}-outside.png")
    (tmp_path / "abs.csv").write_text(f"filename,label\n{outside},b\nimgs/0.png,a\n")
    ds = open_dataset(f"csv:{tmp_path}:abs.csv", 8, split="all")
    assert ds.labels.tolist() == [1, 0] and ds.split_table()[0] == (outside.as_posix(), "all")
    (tmp_path / "gap.csv").write_text("filename,label\nimgs/0.png,2\nimgs/1.png,0\n")
    with pytest.raises(StylexError, match="'1' have no images"):
        open_dataset(f"csv:{tmp_path}:gap.csv", 8)
    (tmp_path / "nohead.csv").write_text("imgs/0.png,1\n")
    with pytest.raises(StylexError, match="filename,label"):
        open_dataset(f"csv:{tmp_path}:nohead.csv", 8)


def test_celeba_attribute_and_official_partition(tmp_path):
    names = [f"{i:06d}.jpg" for i in range(1, 7)]
    for n in names:
        save(tmp_path / "img_align_celeba" / n, fmt="JPEG")
    male = [1, -1, 1, -1, -1, 1]
    lines = ["6", "Smiling Male Young"] + [f"{n} -1 {m:2d}  1" for n, m in zip(names, male)]
    (tmp_path / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, [0, 0, 0, 1, 2, 2])))
    train = open_dataset(f"celeba:{tmp_path}:Male", 16, "train")
    assert train.class_names == ["not_Male", "Male"] and train.labels.tolist() == [1, 0, 1]
    assert open_dataset(f"celeba:{tmp_path}:Male", 16, "test").labels.tolist() == [0, 1]
    assert len(open_dataset(f"celeba:{tmp_path}:Male", 16, "val")) == 1
    with pytest.raises(StylexError, match="unknown attribute 'Bald'.*Smiling"):
        open_dataset(f"celeba:{tmp_path}:Bald", 16)


def test_ffhq_aging_gender_and_age(tmp_path):
    rows = [(0, "0-2", "male"), (1, "30-39", "female"), (2, "50-69", "female"), (3, "40-49", "male"),
            (1005, "20-29", "male")]
    with open(tmp_path / "ffhq_aging_labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_number", "age_group", "age_group_confidence", "gender", "gender_confidence"])
        for n, age, g in rows:
            w.writerow([n, age, 0.9, g, 0.99])
            save(tmp_path / "images" / f"{n // 1000:05d}" / f"{n:05d}.png")
    gender = open_dataset(f"ffhq-aging:{tmp_path}:gender", 8, "all")
    assert gender.class_names == ["female", "male"] and gender.labels.tolist() == [1, 0, 0, 1, 1]
    assert open_dataset(f"ffhq-aging:{tmp_path}:age", 8, "all").labels.tolist() == [0, 0, 1, 1, 0]
    assert open_dataset(f"ffhq-aging:{tmp_path}:age30", 8, "all").labels.tolist() == [0, 1, 1, 1, 0]
    with pytest.raises(StylexError, match="gender, age or ageN"):
        open_dataset(f"ffhq-aging:{tmp_path}:height", 8)


def test_plant_village_healthy_vs_sick(tmp_path):
    for folder, n in (("Apple___healthy", 2), ("Apple___Black_rot", 1), ("Tomato___Late_blight", 2)):
        for i in range(n):
            save(tmp_path / "color" / folder / f"img{i}.JPG", fmt="JPEG")
    ds = open_dataset(f"plant-village:{tmp_path}", 8, "all")
    assert ds.class_names == ["healthy", "sick"]
    assert sorted(zip([p.parent.name for p in ds.paths], ds.labels.tolist())) == [
        ("Apple___Black_rot", 1), ("Apple___healthy", 0), ("Apple___healthy", 0),
        ("Tomato___Late_blight", 1), ("Tomato___Late_blight", 1)]


def test_afhq_official_val_is_test(tmp_path):
    make_tree(tmp_path / "train", {c: [f"{i}.jpg" for i in range(10)] for c in ("cat", "dog", "wild")})
    make_tree(tmp_path / "val", {c: ["v.jpg"] for c in ("cat", "dog", "wild")})
    test = open_dataset(f"afhq:{tmp_path}", 8, "test")
    assert test.class_names == ["cat", "dog", "wild"] and test.labels.tolist() == [0, 1, 2]
    assert all(p.parent.parent.name == "val" for p in test.paths)
    train, val = open_dataset(f"afhq:{tmp_path}", 8, "train"), open_dataset(f"afhq:{tmp_path}", 8, "val")
    assert len(train) + len(val) == 30 and all(p.parent.parent.name == "train" for p in val.paths)
    (tmp_path / "other").mkdir()
    make_tree(tmp_path / "other", {"cat": ["a.png"], "dog": ["b.png"]})
    with pytest.raises(StylexError, match="'wild' have no images"):
        open_dataset(f"afhq:{tmp_path / 'other'}", 8)


def test_world_dataset_splits_factors_and_relabel(tmp_path):
    from stylex.world import generate_world

    root = generate_world(tmp_path / "w", 50, 32, label="smile", shortcut="background:1.0", seed=0, progress=False)
    train = open_dataset(str(root), 32, "train")
    assert train.class_names == ["frown", "smile"] and len(train) == 40
    assert (train.factors["background"] == train.labels).all()
    assert (train.factors["smile"] == train.labels).all()
    test = open_dataset(f"world:{root}", 32, "test")
    assert len(test) == 5 and train.meta["world"]["shortcut"]["factor"] == "background"
    hair = open_dataset(f"world:{root}:hair_color", 16, "val")
    assert hair.class_names == ["black", "brown", "blond", "red"]
    assert (hair.labels == hair.factors["hair_color"]).all() and hair[0][0].shape == (3, 16, 16)


def test_hashed_splits_are_seeded_stable_and_survive_new_files(tmp_path):
    make_tree(tmp_path, {"cat": [f"{i}.png" for i in range(40)], "dog": [f"{i}.png" for i in range(40)]})

    def splits(seed):
        return {s: {p.name + p.parent.name for p in open_dataset(str(tmp_path), 8, s, seed=seed).paths}
                for s in ("train", "val", "test")}

    first = splits(0)
    assert first == splits(0)
    assert first != splits(1)
    assert sum(map(len, first.values())) == 80 and not (first["train"] & first["test"])
    save(tmp_path / "cat" / "new.png")
    after = splits(0)
    for s in first:
        assert first[s] <= after[s], "adding a file must not move the others"


def test_bad_images_skip_with_count_or_fail(tmp_path):
    make_tree(tmp_path, {"cat": ["a.png", "b.png"], "dog": ["c.png", "d.png"]})
    (tmp_path / "cat" / "empty.png").write_bytes(b"")
    (tmp_path / "dog" / "text.jpg").write_text("hello")
    good = (tmp_path / "dog" / "c.png").read_bytes()
    (tmp_path / "dog" / "truncated.png").write_bytes(good[: len(good) // 2])
    with pytest.warns(UserWarning, match="empty.png"):
        ds = open_dataset(str(tmp_path), 8, "all", on_bad_image="skip")
    assert len(ds) == 5 and len(ds.bad_files) == 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds))]
    assert any("truncated.png" in str(w.message) for w in caught)
    assert len(ds.bad_files) == 3 and all(x.shape == (3, 8, 8) for x, _ in items)
    with pytest.raises(StylexError, match="empty.png"):
        open_dataset(str(tmp_path), 8, "all", on_bad_image="fail")
    (tmp_path / "cat" / "empty.png").unlink()
    (tmp_path / "dog" / "text.jpg").unlink()
    ds = open_dataset(str(tmp_path), 8, "all", on_bad_image="fail")
    with pytest.raises(StylexError, match="truncated.png"):
        [ds[i] for i in range(len(ds))]


def test_empty_data_and_empty_class_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StylexError, match="no sub-folders"):
        open_dataset(str(tmp_path / "empty"), 8)
    make_tree(tmp_path / "d", {"cat": ["a.png"]})
    (tmp_path / "d" / "dog").mkdir()
    with pytest.raises(StylexError, match="'dog' have no images"):
        open_dataset(str(tmp_path / "d"), 8)
    with pytest.raises(StylexError, match="no such folder"):
        open_dataset(str(tmp_path / "missing"), 8)
    with pytest.raises(StylexError, match="unknown kind 'imagenet'"):
        open_dataset(f"imagenet:{tmp_path}", 8)
    with pytest.raises(StylexError, match="split 'holdout'"):
        open_dataset(str(tmp_path / "d"), 8, split="holdout")
