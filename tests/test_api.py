"""The Python API (stylex.api, exported by `import stylex`): a tiny run through train, attfind,
explain and every registered evaluation; configuration validation and the flags built from it;
the evaluation registry; the records' typed provenance."""

import dataclasses
import json
import subprocess
import sys

import pytest
import torch

import stylex
from stylex import api
from stylex.config import PRESETS, RESUMABLE, NetworkConfig, TrainingConfig, to_dict, training_fields, training_preset
from stylex.errors import StylexError

TINY = dict(kimg=0.008, batch=4, perceptual="none", metrics_images=8, device="cpu", progress=False)


@pytest.fixture(scope="module")
def trained(tiny_inputs):
    root, world, classifier = tiny_inputs
    return stylex.train(out=root / "run", data=world, classifier=classifier, **TINY)


@pytest.fixture(scope="module")
def found(trained):
    from stylex.attfind import SelectionOptions

    return stylex.run_attfind(out=trained.out / "attfind" / "records.h5", run=trained.out, split="all", num_images=4,
                              batch=40, device="cpu", progress=False, selection=SelectionOptions(top_k=3))


def test_import_stylex_does_not_import_torch():
    code = ("import sys, stylex; f = stylex.train, stylex.run_attfind, stylex.explain, stylex.run_evaluation; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_package_names_keep_the_submodules():
    import types

    from stylex import evaluate

    assert isinstance(stylex.evaluate, types.ModuleType) and evaluate.sufficiency
    assert isinstance(stylex.attfind, types.ModuleType)
    assert stylex.run_evaluation is api.evaluate and stylex.run_attfind is api.attfind
    assert stylex.train is api.train and stylex.explain is api.explain
    with pytest.raises(AttributeError):
        stylex.no_such_function  # noqa: B018


def test_train_returns_the_run(trained):
    assert trained.main_process and not trained.dry_run and not trained.interrupted
    assert trained.nimg == 8 and trained.checkpoint.is_file()
    assert trained.config.perceptual == "none" and trained.config.class_names == ["frown", "smile"]
    assert json.loads((trained.out / "config.json").read_text())["batch"] == 4
    assert 0 <= trained.metrics["metrics/agreement"] <= 1


def test_train_dry_run_and_request_dataclass(tiny_inputs):
    root, world, classifier = tiny_inputs
    request = api.TrainRequest(out=root / "dry", data=world, classifier=classifier, dry_run=True, device="cpu",
                               settings={"g_lr": 0.001, "resolution": 32, "batch": 4})
    result = stylex.train(request)
    assert result.dry_run and result.config.g_lr == 0.001 and result.config.network.c_dim == 2
    assert len(result.config.classifier_fingerprint) == 64 and not (root / "dry").exists()


def test_resume_may_change_only_resumable_settings(trained):
    saved = to_dict(trained.config)
    request = api.TrainRequest(out=trained.out, resume="latest", settings={"g_lr": 0.1, "kimg": 1.0})
    with pytest.raises(StylexError, match="g_lr differ"):
        api.resolve_training_config(request, saved)
    request.settings = {"kimg": 1.0, "snap_kimg": 0.5, "seed": 7}
    cfg = api.resolve_training_config(request, saved)
    assert cfg.kimg == 1.0 and cfg.snap_kimg == 0.5 and cfg.seed == trained.config.seed
    request.settings = {"resolution": 64}
    with pytest.raises(StylexError, match="resolution differ"):
        api.resolve_training_config(request, saved)


def test_unknown_settings_from_python_are_one_line_errors(tiny_inputs):
    root, world, classifier = tiny_inputs
    for settings, message in (({"adv_loss": "wasserstein"}, "adv_loss 'wasserstein' is unknown; allowed: logistic"),
                              ({"perceptual": "vgg"}, "perceptual 'vgg' is unknown; allowed: ssim"),
                              ({"batch": 0}, "batch 0 is not allowed"),
                              ({"learning_rate": 1}, "unknown training setting"),
                              ({"resolution": 48}, "power of two")):
        with pytest.raises(StylexError, match=message) as info:
            stylex.train(out=root / "never", data=world, classifier=classifier, device="cpu", **settings)
        assert "\n" not in str(info.value)
    assert not (root / "never").exists()


def test_config_validates_itself():
    with pytest.raises(StylexError, match="adv_loss 'hinged' is unknown"):
        TrainingConfig(adv_loss="hinged")
    cfg = training_preset("cpu-32")
    cfg.perceptual = "vgg"
    with pytest.raises(StylexError, match="perceptual 'vgg'"):
        cfg.validate()
    with pytest.raises(StylexError, match="--preset nope"):
        training_preset("nope")
    with pytest.raises(StylexError, match="^resolution 48 is not allowed; use a power of two from 16 to 1024$"):
        NetworkConfig(resolution=48).validate()
    with pytest.raises(StylexError, match="^discriminator 'x' is unknown; allowed: projection, unconditional$"):
        NetworkConfig(discriminator="x").validate()


def test_every_field_has_help_and_the_flags_are_the_old_ones_plus_the_new_levers():
    from stylex.commands import train

    assert all(f.metadata.get("help") for f in training_fields())
    flags = {flag for flag, _ in train._config_flags()}
    old = {"--kimg", "--batch", "--batch-gpu", "--g-lr", "--d-lr", "--e-lr", "--adv-loss", "--r1-gamma",
           "--pl-weight", "--rec-l1", "--rec-perceptual", "--rec-w", "--cls-weight", "--perceptual", "--conditioning",
           "--style-mixing", "--ema-kimg", "--ema-rampup", "--augment", "--augment-p", "--precision", "--workers",
           "--tick", "--snap", "--keep", "--sample-every", "--metrics-every", "--metrics-images", "--max-bad-steps",
           "--alternate", "--encoder-only", "--channels-last", "--tf32", "--compile", "--warmup-kimg",
           "--condition-sparsity", "--latent-cycle", "--condition-swap"}
    assert flags == old
    assert RESUMABLE == {"kimg", "tick_kimg", "snap_kimg", "keep_checkpoints", "sample_every_kimg",
                         "metrics_every_kimg", "metrics_images", "max_bad_steps", "workers"}


def test_train_help_shows_the_presets_values(capsys):
    from stylex.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(cpu-32: 10; repro-64: 1; paper-256: 1)" in text  # --rec-l1
    assert "(every preset: 0.002)" in text  # --g-lr
    assert "adversarial loss: logistic (non-saturating, StyleGAN2) or hinge (every preset: logistic)" in text
    # The network's flags, built from NetworkConfig's metadata like the others.
    assert "image size, a power of two from 16 to 1024 (cpu-32: 32; repro-64: 64; paper-256: 256)" in text
    assert "or unconditional (every preset: projection)" in text


def test_network_fields_have_help_and_five_flags():
    from stylex.commands import train
    from stylex.config import NETWORK_SETTINGS, network_fields

    assert all(f.metadata.get("help") for f in network_fields())
    assert [flag for flag, _ in train._network_flags()] == ["--resolution", "--discriminator", "--condition-layers",
                                                                "--condition-channels", "--condition-resolution"]
    assert NETWORK_SETTINGS == ("resolution", "discriminator", "condition_layers", "condition_channels",
                                "condition_resolution")


def test_preset_holds_network_and_schedule():
    from stylex.config import NETWORK_PRESETS, TRAINING_PRESETS, network_preset

    for name, preset in PRESETS.items():
        cfg = preset.training_config()
        assert cfg.network == network_preset(name) == NETWORK_PRESETS[name] and cfg.preset == name
        assert all(getattr(cfg, k) == v for k, v in TRAINING_PRESETS[name].items())
    assert PRESETS["cpu-32"].value("rec_l1") == 10.0


def test_attfind_records_the_seeded_sample_and_selects(found, trained):
    from stylex.attfind import SelectionOptions
    from stylex.datasets import open_dataset

    assert found.main_process and found.complete and found.attributes_path.is_file()
    records = found.records
    index = api.sample_images(open_dataset(trained.config.data, 32, split="all"), 4, seed=0)[2]
    assert (records.image_index == index).all()
    meta = records.provenance
    assert meta.split == "all" and meta.seed == 0 and meta.world == {"label": "smile", "shortcut": None}
    assert meta.classifier_fingerprint == trained.config.classifier_fingerprint and len(meta.checkpoint_sha256) == 64
    assert meta.to_dict() == records.meta  # what the file holds, field for field
    assert 1 <= len(found.selection.attributes) <= 6
    again = api.select(found.records_path, SelectionOptions(top_k=3), found.records_path.parent / "again.json")
    assert again.selection.attributes == found.selection.attributes


def test_attfind_refuses_another_classifier(found, trained, tiny_inputs, tmp_path):
    from stylex.classifiers import build_classifier, save_classifier

    torch.manual_seed(5)
    other = tmp_path / "other.pt"
    save_classifier(other, build_classifier("small-cnn", 2, width=4), arch="small-cnn", arch_kwargs={"width": 4},
                    class_names=["frown", "smile"], input_size=32, normalization=None)
    with pytest.raises(StylexError, match="not the one"):
        stylex.run_attfind(out=tmp_path / "records.h5", run=trained.out, classifier=other, num_images=2,
                           device="cpu", progress=False)


def test_explain_from_a_result(found, tmp_path):
    result = stylex.explain(found, tmp_path / "explain", top_k=1, examples=1, images=1, gif_frames=2, progress=False)
    assert result.index.is_file() and result.attributes == 1


def test_every_registered_evaluation_from_python(found, trained, tiny_inputs, tmp_path):
    from stylex.attfind import load_context
    from stylex.evaluate import EVALUATIONS
    from stylex.oracle import FactorOracle, OracleNet, save_oracle

    torch.manual_seed(0)
    oracle = tmp_path / "oracle.pt"
    save_oracle(FactorOracle(OracleNet()), oracle)  # untrained: the wiring, not the oracle
    ctx = load_context(found.records_path)
    extra = {"baselines": dict(seeds=1), "specificity": dict(runs={"A": ctx, "B": ctx}),
             "ground_truth": dict(oracle=str(oracle)),
             "fidelity": dict(checkpoint=trained.out, classifier=tiny_inputs[2], data=tiny_inputs[1], num_images=2,
                              samples=2, oracle=str(oracle))}
    for name in EVALUATIONS:
        source = None if name in ("fidelity", "specificity") else found
        result = stylex.run_evaluation(name, source, top_k=2, device="cpu", **extra.get(name, {}))
        assert result.what == name == result.values["what"], name
        assert ("records" in result.values) == (name not in ("fidelity", "specificity")), name
    out = tmp_path / "suff.json"
    result = stylex.run_evaluation("ground-truth", found, top_k=1, oracle=str(oracle), out=out)
    assert result.what == "ground_truth" and json.loads(out.read_text()) == result.values
    assert result.values["recovery_label"]["factor"] == "smile"


def test_registry_names_are_the_command_names():
    from stylex.commands import evaluate as command
    from stylex.evaluate import EVALUATIONS, evaluation

    assert list(EVALUATIONS) == ["sufficiency", "baselines", "specificity", "reconstruction", "condition",
                                 "ground_truth", "layer_directions", "fidelity"]
    for name, entry in EVALUATIONS.items():
        assert entry.name == name and f"  {name} " in command.DESCRIPTION
        assert entry.needs_records == (name != "fidelity")
    assert evaluation("ground-truth") is EVALUATIONS["ground_truth"]
    with pytest.raises(StylexError, match="unknown evaluation 'fid'"):
        evaluation("fid")
    with pytest.raises(StylexError, match="needs --records"):
        api.evaluate("sufficiency")


def test_records_meta_round_trip():
    from stylex.attfind.records import RecordsMeta

    meta = RecordsMeta(checkpoint="/a/c.pt", checkpoint_sha256="x", classifier="/a/k.pt", data="world:/w",
                       split="test", seed=3)
    data = meta.to_dict()
    assert "checkpoint_relative" not in data and data["world"] is None and data["seed"] == 3
    assert RecordsMeta.from_dict(data) == meta
    other = RecordsMeta.from_dict({"checkpoint": "c", "note": "kept"})
    assert other.extra == {"note": "kept"} and other.to_dict()["note"] == "kept"
    assert dataclasses.asdict(RecordsMeta.from_dict(None)) == dataclasses.asdict(RecordsMeta())
