"""Two CPU processes under torchrun (gloo): equal weights afterwards, exactly one checkpoint."""

import subprocess
import sys
import textwrap
from pathlib import Path

import torch

WORKER = """
import sys
import torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from training_fakes import RandomImages, tiny_classifier, tiny_config
from stylex.training.distributed import init_distributed, shutdown
from stylex.training.loop import Trainer

info = init_distributed("cpu")
# 2 processes x batch-gpu 1 x 2 accumulation rounds = batch 4; 6 iterations with R1 and path length
cfg = tiny_config(kimg=0.024, batch=4, batch_gpu=1)
trainer = Trainer(cfg, RandomImages(), tiny_classifier(), {out!r}, info, progress=False)
trainer.train()
torch.save({{name: dict(getattr(trainer, name).named_parameters()) for name in ("G", "D", "E", "G_ema", "E_ema")}},
           {out!r} + f"/rank{{info.rank}}.pt")
shutdown(info)
"""


def test_two_processes_stay_in_sync(tmp_path):
    out = tmp_path / "run"
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER.format(tests=str(Path(__file__).parent), out=str(out))))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, params in ranks[0].items():
        for key, value in params.items():
            assert torch.equal(value, ranks[1][name][key]), f"{name}.{key} differs between ranks"
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["checkpoint-000000000024.pt"]
    assert len((out / "stats.jsonl").read_text().splitlines()) == 1  # one tick line, from rank 0 only
