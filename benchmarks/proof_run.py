"""The GPU proof run: a faithful StylEx on a 64 px world in the minutes a device has, then its
fidelity, flip rate and recovery (docs/FIDELITY.md). `benchmarks/gpu_check.sh` runs it as a stage.

Stages: a world (`--world-images` faces at `--resolution`), a smile classifier (small-cnn), StylEx
with `--preset` and its autoencoder warm-up for `--minutes` of wall time (training stops there,
saving a checkpoint, as on SIGTERM), then `evaluate fidelity`, AttFind on `--attfind-images` test
faces, `evaluate baselines` and `evaluate ground_truth`. Everything goes into OUT/proof.json.

  python -m benchmarks.proof_run --out gpu_check_out/proof --device cuda --minutes 4
  python -m benchmarks.proof_run --out /tmp/proof --device cpu --preset cpu-32 --resolution 32 \\
      --world-images 200 --minutes 0.2 --attfind-images 4 --kimg 0.1 --warmup-kimg 0.05   # toy size
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (world, classifier, run, proof.json)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:<i> (default auto)")
    p.add_argument("--minutes", type=float, default=4.0, help="wall-time budget of StylEx training (default 4)")
    p.add_argument("--preset", default="repro-64", help="training preset (default repro-64)")
    p.add_argument("--resolution", type=int, default=64, help="world and StylEx resolution (default 64)")
    p.add_argument("--world-images", type=int, default=10000, help="faces in the world (default 10000)")
    p.add_argument("--kimg", type=float, default=2000.0, help="training length if the budget allows (default 2000)")
    p.add_argument("--warmup-kimg", type=float, default=None,
                   help="autoencoder warm-up in kimg (default: the preset's, else 100)")
    p.add_argument("--batch", type=int, default=None, help="batch (default: the preset's)")
    p.add_argument("--attfind-images", type=int, default=100, help="test faces AttFind analyses (default 100)")
    p.add_argument("--top-k", type=int, default=10, help="attributes changed together (default 10)")
    args = p.parse_args(argv)

    from stylex import api
    from stylex.classifiers import train_classifier
    from stylex.config import training_preset
    from stylex.evaluate import fidelity_of_run
    from stylex.oracle import load_oracle
    from stylex.runtime import resolve_device
    from stylex.training.checkpoint import load_trained
    from stylex.world import generate_world

    args.device = str(resolve_device(args.device))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    world = generate_world(out / "world", args.world_images, args.resolution, label="smile", progress=False)
    clf = out / "smile.pt"
    clf_report = train_classifier(str(world), args.resolution, clf, epochs=2, device=args.device, seed=0,
                                  progress=False)
    seconds["world_and_classifier"] = round(time.perf_counter() - start, 1)

    preset = training_preset(args.preset)
    warmup = args.warmup_kimg if args.warmup_kimg is not None else (preset.warmup_kimg or 100.0)
    flags = ["--kimg", str(args.kimg), "--warmup-kimg", str(warmup), "--resolution", str(args.resolution),
             "--metrics-every", "0", "--no-progress"] + (["--batch", str(args.batch)] if args.batch else [])
    cmd = [sys.executable, "-m", "stylex", "train", "--data", str(world), "--classifier", str(clf), "--out",
           str(out / "run"), "--preset", args.preset, "--device", args.device, "--force", *flags]
    # The budget: after --minutes the run gets SIGTERM, which the trainer answers by finishing the
    # step, saving a checkpoint and returning (as for a cluster's time limit).
    start = time.perf_counter()
    with open(out / "train_log.txt", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=args.minutes * 60)
            interrupted = False
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
            interrupted = True
    if proc.returncode != 0:
        raise SystemExit(f"stylex train failed (exit {proc.returncode}); see {out / 'train_log.txt'}")
    seconds["stylex"] = round(time.perf_counter() - start, 1)
    kimg = load_trained(out / "run").kimg

    start = time.perf_counter()
    fidelity = fidelity_of_run(out / "run", clf, str(world), num_images=256, samples=256, device=args.device)
    found = api.attfind(out=out / "run" / "attfind" / "records.h5", run=out / "run", num_images=args.attfind_images,
                        device=args.device, overwrite=True, progress=False)
    oracle = load_oracle(device="cpu")
    baselines = api.evaluate("baselines", found.records_path, top_k=args.top_k, device=args.device).values
    truth = api.evaluate("ground_truth", found.records_path, top_k=args.top_k, device=args.device,
                         oracle=oracle, factors={"label": "smile"}).values
    seconds["evaluation"] = round(time.perf_counter() - start, 1)

    result = {"args": vars(args), "kimg": kimg, "interrupted_by_budget": interrupted,
              "classifier_test_accuracy": clf_report["test_accuracy"], "fidelity": fidelity,
              "flip_rate": {k: baselines[k]["flip_rate"] for k in ("attfind", "random", "wu")},
              "top1_dominant_factor": truth["attributes"][0]["dominant_factor"] if truth["attributes"] else None,
              "recovery_label": truth.get("recovery_label"), "seconds": seconds}
    (out / "proof.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("kimg", "flip_rate", "top1_dominant_factor")}))
    print("factor fidelity:", json.dumps(fidelity["factor_fidelity"]))
    return result


if __name__ == "__main__":
    main()
