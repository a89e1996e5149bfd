import subprocess
import sys

import pytest

from stylex.cli import COMMANDS, build_parser, main
from stylex.errors import StylexError


def test_top_level_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "stylex", "--help"], capture_output=True, text=True, check=True)
    for name in COMMANDS:
        assert name in out.stdout


def test_top_level_help_and_world_help_do_not_import_torch():
    # torch takes seconds to import; `stylex --help` builds only the command names.
    for argv in (["--help"], ["world", "--help"]):
        code = (f"import sys; from stylex.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n"
                "    pass\nprint('torch' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip().endswith("False"), argv


def test_world_label_help_names_every_factor():
    from stylex.world import FACTOR_NAMES

    actions = build_parser()._subparsers._group_actions[0].choices["world"]._actions
    label = next(a for a in actions if a.dest == "label")
    assert all(name in label.help for name in FACTOR_NAMES)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([name, "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert f"usage: stylex {name}" in help_text
    # every option is explained (argparse prints the help string after each flag)
    for action in build_parser()._subparsers._group_actions[0].choices[name]._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{name} {action.option_strings} has no help text"


def test_info_prints_stylespace_size(capsys):
    assert main(["info", "--preset", "paper-256"]) == 0
    assert "5,760 modulated-conv coordinates" in capsys.readouterr().out


def test_bad_device_is_a_clear_error():
    from stylex.runtime import resolve_device

    with pytest.raises(StylexError, match="--device cuda:7"):
        resolve_device("cuda:7")
    with pytest.raises(StylexError, match="unknown device"):
        resolve_device("tpu")


def test_import_without_cuda():
    code = "import os; os.environ['CUDA_VISIBLE_DEVICES']=''; import stylex, stylex.networks, stylex.cli"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_train_flag_sets_a_real_config_field():
    import dataclasses

    from stylex.api import resolve_training_config
    from stylex.commands import train
    from stylex.config import NetworkConfig, TrainingConfig

    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    flags = [f.name for _, f in train._config_flags()]
    assert set(flags) <= fields, sorted(set(flags) - fields)
    network = {f.name for f in dataclasses.fields(NetworkConfig)}
    assert {f.name for _, f in train._network_flags()} <= network
    args = build_parser().parse_args(["train", "--out", "x", "--keep", "5", "--g-lr", "0.002", "--resolution", "64",
                                      "--discriminator", "unconditional"])
    cfg = resolve_training_config(train.request_from(args), None)
    assert cfg.keep_checkpoints == 5 and cfg.g_lr == 0.002
    assert cfg.network.resolution == 64 and cfg.network.discriminator == "unconditional"
    assert build_parser().parse_args(["train", "--out", "x"]).resolution is None  # left out: the preset's


@pytest.mark.parametrize(
    "argv,message",
    [(["--keep", "-1"], "0 or more"), (["--kimg", "0"], "above 0"), (["--g-lr", "x"], "is not a number")],
)
def test_numeric_flags_name_what_is_allowed(argv, message, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--out", "x", *argv])
    assert message in capsys.readouterr().err
