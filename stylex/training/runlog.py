"""What a training run reports, on the main process only: a tqdm bar, `stats.jsonl` (one JSON object
per line: ticks and metrics) and TensorBoard scalars under `<run>/tensorboard`."""

from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm


class RunLog:
    """Args: run_dir: the run directory. total_kimg / start_kimg: bar length and position.
    enabled: False on non-main processes (everything becomes a no-op). progress: show the bar."""

    def __init__(self, run_dir, total_kimg: float, start_kimg: float, enabled: bool = True, progress: bool = True):
        self.enabled = enabled
        self.bar = tqdm(
            total=round(total_kimg, 3), initial=round(start_kimg, 3), unit="kimg", disable=not (enabled and progress),
            bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} kimg [{elapsed}<{remaining}{postfix}]",
        )
        self.stats_path = Path(run_dir) / "stats.jsonl"
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def advance(self, kimg: float) -> None:
        self.bar.update(kimg)

    def record(self, kimg: float, values: dict, postfix: dict | None = None) -> None:
        """Append {kimg, **values} to stats.jsonl, write the numbers to TensorBoard, and show
        `postfix` on the bar."""
        if not self.enabled:
            return
        with open(self.stats_path, "a") as f:
            f.write(json.dumps({"kimg": round(kimg, 4), **values}, sort_keys=True) + "\n")
        step = int(round(kimg * 1000))
        for key, value in values.items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)

    def message(self, text: str) -> None:
        if self.enabled:
            self.bar.write(text)

    def close(self) -> None:
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
