"""The `stylex` command line: one sub-command per pipeline stage.

Each sub-command lives in its own module under `stylex.commands` and provides `HELP` (one line),
`add_arguments(parser)` and `run(args)`. This file only wires them together and turns user errors
into one clear line.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

from stylex import __version__
from stylex.errors import StylexError

# Sub-command name -> module under stylex.commands, in pipeline order.
COMMANDS = {
    "info": "info",
    "world": "world",
    "train-classifier": "train_classifier",
    "eval-classifier": "eval_classifier",
    "prepare": "prepare",
    "train": "train",
    "attfind": "attfind",
    "explain": "explain",
    "evaluate": "evaluate",
    "user-study": "user_study",
    "demo": "demo",
    "doctor": "doctor",
}


def build_parser(options_of: set[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; `options_of` limits the sub-commands whose options are added (building some
    imports torch, which would make `stylex --help` take seconds)."""
    parser = argparse.ArgumentParser(
        prog="stylex",
        description="StylEx: train a classifier-conditioned StyleGAN2 and explain the classifier "
        "with AttFind. Run `stylex <command> --help` for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"stylex {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"stylex.commands.{module_name}")
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if options_of is None or name in options_of:
            module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The first word that is not an option names the sub-command (global options take no values).
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser({command} if command else set())
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except StylexError as exc:
        print(f"stylex {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused: disk full, permission denied, read-only, missing
        where = f" {exc.filename}" if exc.filename else ""
        hint = {errno.ENOSPC: "free disk space or choose another location",
                errno.EDQUOT: "free disk space or choose another location"}.get(
            exc.errno, "check the path and its permissions, or choose another location")
        print(f"stylex {args.command}: error: could not access{where}: {exc.strerror or exc}; {hint}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stylex {args.command}: interrupted", file=sys.stderr)
        return 130


def prepare_folder_main(script: str, argv: list[str] | None = None) -> int:
    """What every `data/NAME/prepare.py` runs: `stylex prepare NAME --out data/NAME/prepared ARGS`,
    NAME being the name of the script's folder and ARGS the script's own arguments."""
    from pathlib import Path

    folder = Path(script).resolve().parent
    argv = sys.argv[1:] if argv is None else argv
    return main(["prepare", folder.name, "--out", str(folder / "prepared"), *argv])


if __name__ == "__main__":
    sys.exit(main())
