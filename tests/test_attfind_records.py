"""AttFind Step A: the batched, cached effects equal the one-at-a-time reference; the records file is
complete, resumes after kill -9 to the same numbers, and shards merge into the single-run file."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stylex.attfind.effects import EditSpec, ExactEffects, ReferenceEffects
from stylex.attfind.methods import effect_method
from stylex.attfind.records import (
    AnalysedImages,
    AttFindNetworks,
    RecordsOptions,
    compute_records,
    load_records,
    merge_records,
    shard_path,
)
from stylex.errors import StylexError


def build_tiny(seed=0):
    """A tiny random StylEx (16 px G and E) and a small classifier, identical in every process."""
    from stylex.networks import Encoder, Generator

    torch.manual_seed(seed)
    G = Generator(resolution=16, c_dim=2, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
    for layer in G.layers:  # non-zero noise and biases so every part of a layer is exercised
        layer.bias.data.normal_(0, 0.5)
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(0.2)
    E = Encoder(resolution=16, w_dim=32, channel_base=256, channel_max=32)
    classifier = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.2), torch.nn.Flatten(),
        torch.nn.Linear(8 * 8 * 8, 2),
    )
    classifier[-1].weight.data *= 30  # a sensitive classifier, so edits move its logits clearly
    images = torch.rand(6, 3, 16, 16) * 2 - 1
    return G.eval(), E.eval(), classifier.eval(), images


def run_records(path, tiny, shift=1.0, discriminator=None, method="exact", candidates=None, **options):
    G, E, classifier, images = tiny
    method = effect_method(method, batch=48, **({} if candidates is None else {"candidates": candidates}))
    return compute_records(path, AttFindNetworks(G, E, classifier, discriminator),
                           AnalysedImages(images, [0, 1, 0, 1, 0, 1], class_names=["a", "b"]),
                           EditSpec.for_generator(G, shift=shift), method,
                           RecordsOptions(batch=48, meta={"test": True}, progress=False, **options))


@pytest.fixture(scope="module")
def tiny():
    return build_tiny()


@pytest.fixture(scope="module")
def full_run(tiny, tmp_path_factory):
    return run_records(tmp_path_factory.mktemp("full") / "records.h5", tiny)


@pytest.mark.parametrize("include_torgb", [False, True])
def test_batched_effects_equal_reference(tiny, include_torgb):
    G, E, classifier, images = tiny
    with torch.no_grad():
        styles = G.styles(E(images[:3]), torch.softmax(classifier(images[:3]), 1))
    space = G.stylespace(include_torgb=include_torgb)
    flat = space.flatten(styles)
    s_min, s_max = flat.min(0).values, flat.max(0).values
    one = [s[1:2] for s in styles]
    D = lambda img, c: img.mean(dim=[1, 2, 3]) * 3 + c[:, 0]  # noqa: E731  a stand-in discriminator score
    spec = EditSpec(space, s_min, s_max, 0.8)
    ref = ReferenceEffects().effects(G, classifier, one, spec, D)
    # An odd batch size splits layers into uneven calls.
    fast = ExactEffects(batch=14).effects(G, classifier, one, spec, D)
    assert fast.effect.shape == (2, space.size, 2)
    assert ref.effect.abs().max() > 0.1  # the edits do move the classifier
    torch.testing.assert_close(fast.effect, ref.effect, atol=1e-4, rtol=0)
    torch.testing.assert_close(fast.disc, ref.disc, atol=1e-4, rtol=0)
    # D's edits at the effects' own shift reuse the effects' renders.
    spec = EditSpec(space, s_min, s_max, 0.8, disc_shift=0.8)
    same = ExactEffects(batch=14).effects(G, classifier, one, spec, D)
    same_ref = ReferenceEffects().effects(G, classifier, one, spec, D)
    torch.testing.assert_close(same.disc, same_ref.disc, atol=1e-4, rtol=0)
    assert G.fused_modconv is None  # the fast path restores the generator's setting


def _clamped_logits(G, classifier, styles):
    with torch.no_grad():
        img = G.synthesis(styles, noise_mode="const").clamp(-1, 1)
        return img, classifier(img)


def test_discriminator_scores_edits_at_shift_2_under_their_own_probabilities(tiny):
    """disc[d, k] = D(x', softmax(C(x'))) - D(x, softmax(C(x))), x' the edit at shift 2, both clamped."""
    from stylex.attfind.effects import edit_values

    G, E, classifier, images = tiny
    with torch.no_grad():
        styles = G.styles(E(images[:3]), torch.softmax(classifier(images[:3]), 1))
    space = G.stylespace()
    flat = space.flatten(styles)
    s_min, s_max = flat.min(0).values, flat.max(0).values
    one = [s[1:2] for s in styles]
    D = lambda img, c: img.mean(dim=[1, 2, 3]) + c[:, 0].log()  # noqa: E731  depends on the condition
    spec = EditSpec(space, s_min, s_max, 1.0)
    fast = ExactEffects(batch=14).effects(G, classifier, one, spec, D)
    ref = ReferenceEffects().effects(G, classifier, one, spec, D)
    base_img, base_logits = _clamped_logits(G, classifier, one)
    base = D(base_img, torch.softmax(base_logits, 1))
    values = edit_values(space.flatten(one)[0], s_min, s_max, 2.0)
    for d, k in [(0, 0), (1, 0), (0, 17), (1, 40), (1, space.size - 1)]:
        img, logits = _clamped_logits(G, classifier, space.edit(one, torch.tensor([k]), values[d, k : k + 1]))
        expected = float(D(img, torch.softmax(logits, 1)) - base)
        assert float(fast.disc[d, k]) == pytest.approx(expected, abs=1e-4)
        assert float(ref.disc[d, k]) == pytest.approx(expected, abs=1e-4)
    assert fast.disc.abs().max() > 0.1


class PeakClassifier(torch.nn.Module):
    """Class 0 when an image's brightest value exceeds 1.1 (possible only outside [-1, 1]), else class 1."""

    def forward(self, x):
        peak = x.amax(dim=[1, 2, 3]) - 1.1
        return torch.stack([peak, torch.zeros_like(peak)], dim=1)


def test_records_classify_clamped_images_as_the_editor_does(tiny, tmp_path):
    from stylex.attfind.editor import Editor

    G, E, classifier, images = tiny
    with torch.no_grad():
        rendered = G.synthesis(G.styles(E(images), torch.softmax(classifier(images), 1)), noise_mode="const")
    assert rendered.amax(dim=[1, 2, 3]).min() > 1.1  # this generator's output leaves [-1, 1] on every image
    peak = PeakClassifier()
    records = compute_records(tmp_path / "peak.h5", AttFindNetworks(G, E, peak), AnalysedImages(images),
                              EditSpec.for_generator(G), "exact", RecordsOptions(batch=48, progress=False))
    editor = Editor(G, peak, records)
    evaluated = editor.logits(editor.base_images())
    np.testing.assert_array_equal(records.predicted, evaluated.argmax(1).numpy())
    np.testing.assert_allclose(records.base_logits, evaluated.numpy(), atol=1e-5)
    # The effects (exact and Taylor-screened) are those of the clamped renders the evaluation makes.
    for method in ("exact", "taylor"):
        rec = compute_records(tmp_path / f"{method}.h5", AttFindNetworks(G, E, classifier), AnalysedImages(images),
                              EditSpec.for_generator(G), effect_method(method, batch=48, candidates=4),
                              RecordsOptions(batch=48, progress=False))
        editor = Editor(G, classifier, rec)
        np.testing.assert_allclose(rec.base_logits, editor.logits(editor.base_images()).numpy(), atol=1e-3)
        computed = np.ones(rec.effect.shape[:3], bool) if rec.computed is None else rec.computed.astype(bool)
        for i in (0, 3):
            pairs = [(int(k), int(d)) for d, k in zip(*np.nonzero(computed[i]))][:12]
            edited = torch.cat([editor.edited([i], [pair]) for pair in pairs])
            got = editor.logits(editor.render(edited)).numpy() - rec.base_logits[i]
            want = np.stack([rec.effect[i, d, k] for k, d in pairs])
            np.testing.assert_allclose(want, got, atol=2e-3)


def test_records_file_contents(tiny, full_run):
    G, E, classifier, images = tiny
    rec = load_records(full_run.path)
    space = rec.space
    assert rec.complete and rec.num_images == 6 and rec.class_names == ["a", "b"]
    assert rec.effect.shape == (6, 2, space.size, 2) and rec.styles.shape == (6, G.stylespace(True).size)
    analysed = rec.styles[:, rec.full_index]
    np.testing.assert_array_equal(rec.style_min, analysed.min(0))
    np.testing.assert_array_equal(rec.style_max, analysed.max(0))
    np.testing.assert_array_equal(rec.labels, [0, 1, 0, 1, 0, 1])
    assert rec.images.dtype == np.uint8 and rec.images.shape == (6, 3, 16, 16)
    # Row 4 equals the reference computation from the stored style vector.
    styles = rec.full_space.unflatten(torch.from_numpy(rec.styles[4:5]))
    spec = EditSpec(space, torch.from_numpy(rec.style_min), torch.from_numpy(rec.style_max))
    ref = ReferenceEffects().effects(G, classifier, styles, spec)
    np.testing.assert_allclose(rec.effect[4], ref.effect.numpy(), atol=1e-4)
    with torch.no_grad():
        np.testing.assert_allclose(rec.real_logits, classifier(images).numpy(), atol=1e-5)


KILL_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from test_attfind_records import build_tiny, run_records
def report(i):
    print("done", i, flush=True)
run_records({path!r}, build_tiny(), on_image=report)
print("finished", flush=True)
"""


def test_resume_after_kill_9_gives_identical_records(tiny, full_run, tmp_path):
    path = tmp_path / "records.h5"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), path=str(path))
    # This checkout first, then whatever the caller had (a mutation tool, for one).
    pythonpath = os.pathsep.join(filter(None, [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if len(lines) == 2:  # two images on disk, the third in progress
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = load_records(path, require_complete=False)
    assert 2 <= partial.done.sum() < 6
    with pytest.raises(StylexError, match="incomplete"):
        load_records(path)
    done_before = partial.done.copy()
    resumed = run_records(path, tiny)
    assert resumed.complete
    final = load_records(path)
    for name in ("styles", "base_logits", "style_min", "style_max", "effect"):
        np.testing.assert_array_equal(getattr(final, name), getattr(full_run, name), err_msg=name)
    assert done_before.sum() < 6


def test_shards_merge_into_the_single_run(tiny, full_run, tmp_path):
    out = tmp_path / "records.h5"
    shards = [shard_path(out, r, 2) for r in range(2)]
    for rank, p in enumerate(shards):
        part = run_records(p, tiny, shard=(rank, 2))
        assert list(np.flatnonzero(part.done)) == list(range(rank, 6, 2))
    merged = merge_records(shards, out)
    assert merged.complete and merged.shard == (0, 1)
    np.testing.assert_array_equal(merged.effect, full_run.effect)


def test_other_settings_are_refused(tiny, full_run):
    with pytest.raises(StylexError, match="shift"):
        run_records(full_run.path, tiny, shift=0.5)
    with pytest.raises(StylexError, match="does not exist"):
        load_records(full_run.path.with_name("missing.h5"))


class Killed(BaseException):
    """Raised by the instrumented HDF5 calls to stop a run at a chosen write or flush."""


def instrument_writes(monkeypatch, kill_at=None):
    """Log every row write (dataset name) and flush of the records loop; raise Killed instead of
    performing I/O event number `kill_at` (1-based). Returns the log."""
    import h5py

    log = []
    write, flush = h5py.Dataset.__setitem__, h5py.File.flush

    def event(what):
        log.append(what)
        if kill_at is not None and len(log) == kill_at:
            raise Killed(what)

    def logged_write(self, key, value):
        event(self.name.lstrip("/"))
        return write(self, key, value)

    def logged_flush(self):
        event("flush")
        return flush(self)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", logged_write)
    monkeypatch.setattr(h5py.File, "flush", logged_flush)
    return log


def test_each_row_is_flushed_before_its_done_flag_and_the_flag_is_flushed(tiny, tmp_path, monkeypatch):
    log = instrument_writes(monkeypatch)
    run_records(tmp_path / "records.h5", tiny, discriminator=lambda img, c: img.mean(dim=[1, 2, 3]))
    # Per image: its data rows, a flush, then the done flag and a flush; nothing else in between.
    per_image = ["effect", "disc_effect", "flush", "done", "flush"]
    assert log == per_image * 6
    log.clear()
    run_records(tmp_path / "taylor.h5", tiny, method="taylor", candidates=2)
    assert log == ["computed", "effect", "flush", "done", "flush"] * 6


def test_no_interruption_leaves_a_done_row_without_its_data(tiny, full_run, tmp_path, monkeypatch):
    """Stop the run at each write and flush of the first two images in turn (a Python exception: the
    file is then closed normally, so everything written so far reaches it, the most a late kill can
    leave), and check that every row marked done holds its final effects; then resume to the end."""
    pristine = tmp_path / "pristine.h5"
    with monkeypatch.context() as m:
        instrument_writes(m, kill_at=1)
        with pytest.raises(Killed):
            run_records(pristine, tiny)
    assert not load_records(pristine, require_complete=False).done.any()
    events_per_image = 4  # effect, flush, done, flush
    for kill_at in range(1, 2 * events_per_image + 1):
        path = tmp_path / f"killed_at_{kill_at}.h5"
        path.write_bytes(pristine.read_bytes())
        with monkeypatch.context() as m:
            log = instrument_writes(m, kill_at=kill_at)
            with pytest.raises(Killed):
                run_records(path, tiny)
        partial = load_records(path, require_complete=False)
        for i in np.flatnonzero(partial.done):
            np.testing.assert_array_equal(partial.effect[i], full_run.effect[i],
                                          err_msg=f"row {i} done without its data (stopped at {log[-1]})")
        assert partial.done.sum() == log.count("done") - (log[-1] == "done")
        resumed = run_records(path, tiny)
        assert resumed.complete
        np.testing.assert_array_equal(load_records(path).effect, full_run.effect)
