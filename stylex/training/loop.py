"""The StylEx training loop: schedule, optimizers, EMA, gradient averaging, checkpoints and logs.

One iteration takes `batch` real images (over all processes and accumulation micro-steps) and runs

1. one generator step: an *encoder* step (reconstruct the real images) or a *noise* step (sample
   from random z with the real images' classifier outputs as conditions), alternating per
   optimizer step, so the alternation does not depend on gradient accumulation;
2. every `pl_interval` iterations a path-length regularization step of G;
3. one discriminator step on the real images and the fakes of step 1 (reused, not re-rendered);
4. every `r1_interval` iterations an R1 step of D;
5. the EMA update of G and E.

The classifier runs once per real image per iteration; its output serves as the reconstruction
target, the encoder step's condition, the noise step's condition and D's condition.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch

from stylex.config import TrainingConfig, to_dict
from stylex.errors import StylexError
from stylex.runtime import RngStreams, cuda_math
from stylex.training import checkpoint as ckpt
from stylex.training.augment import DiffAugment, parse_ops
from stylex.training.distributed import (
    DistInfo,
    all_reduce_mean,
    any_process,
    broadcast_module,
    gather_objects,
)
from stylex.training.losses import StylexLoss
from stylex.training.runlog import RunLog

GRID_IMAGES = 16  # held-out images in each sample grid


def _in_scope(method):
    """Run a Trainer method inside the trainer's scope (its random streams and CUDA math settings)."""
    @functools.wraps(method)
    def scoped(self, *args, **kwargs):
        with self._scope():
            return method(self, *args, **kwargs)

    return scoped


class InfiniteSampler(torch.utils.data.Sampler):
    """An endless stream of dataset indices: a fresh seeded permutation every epoch, dealt round
    robin to the processes. Position `start` of this process's stream is where it begins, so a
    resumed run continues exactly where it stopped."""

    def __init__(self, size: int, rank: int = 0, world_size: int = 1, seed: int = 0, start: int = 0):
        self.size, self.rank, self.world_size, self.seed, self.start = size, rank, world_size, seed, start

    def __iter__(self):
        i, epoch, perm = self.start, -1, None
        while True:
            e, pos = divmod(i * self.world_size + self.rank, self.size)
            if e != epoch:
                generator = torch.Generator().manual_seed(self.seed * 100003 + e)
                epoch, perm = e, torch.randperm(self.size, generator=generator)
            yield int(perm[pos])
            i += 1


def _rng_state(device: torch.device) -> dict:
    """This process's random states as tensors and plain values (checkpointable)."""
    keys, pos, has_gauss, gauss = np.random.get_state()[1:]
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "gauss": float(gauss)},
        "python": random.getstate(),
    }


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"], device)
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


@torch.no_grad()
def align_encoder_to_mapping(E, G, images: torch.Tensor, samples: int = 1024) -> None:
    """Initialise the encoder's output layer so that E(x) on real images has the per-dimension mean
    and spread of the mapping network's w.

    A freshly built encoder emits codes near zero that barely differ between images, while
    mapping(z) lies around a positive mean with unit-sized spread. Left like that, the generator
    learns the two regions separately: reconstructions ignore E(x) (every image decodes to the
    same average picture) and only slowly, if ever, catch up. Starting E inside the mapping's
    region makes encoder and noise steps train the same part of the generator.
    """
    device = next(E.parameters()).device
    w = G.mapping(torch.randn(samples, G.z_dim, device=device))
    h = E(images.to(device)) - E.head.bias * E.head.lr_mul  # the head's output without its bias
    scale = w.std(dim=0).mean() / h.std(dim=0).mean().clamp(min=1e-8)
    E.head.weight.mul_(scale)
    E.head.bias.copy_((w.mean(dim=0) - scale * h.mean(dim=0)) / E.head.lr_mul)


def _adam(params, lr, cfg: TrainingConfig, reg_interval: int | None):
    """Adam with StyleGAN2's rescaling for lazy regularization: the main and regularization steps
    share the optimizer, so lr and betas are scaled by interval / (interval + 1)."""
    ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    return torch.optim.Adam(params, lr=lr * ratio, betas=(cfg.beta1**ratio, cfg.beta2**ratio), eps=1e-8)


def split_batch(cfg, world_size: int) -> tuple[int, int]:
    """(batch per process per micro-step, micro-steps per optimizer step) for `cfg.batch` over
    `world_size` processes; a StylexError when the batch does not split evenly (checked by
    `stylex train` before it writes anything)."""
    per_process, rest = divmod(cfg.batch, world_size)
    batch_gpu = cfg.batch_gpu or per_process
    if rest or not per_process or per_process % batch_gpu:
        raise StylexError(
            f"--batch {cfg.batch} must be a multiple of processes ({world_size}) x --batch-gpu ({batch_gpu or 1})"
        )
    return batch_gpu, per_process // batch_gpu


class Trainer:
    """Owns the networks, optimizers and schedule of one run.

    Args:
        cfg: the resolved TrainingConfig (network.c_dim must equal the classifier's classes).
        dataset: training images: `dataset[i] -> (image [3, R, R] in [-1, 1], label)`.
        classifier: the frozen classifier (see StylexLoss).
        run_dir: where checkpoints, samples, stats and TensorBoard logs go.
        dist: this process's place in a multi-process run (default: one process on CPU).
        heldout: held-out images for metrics and sample grids (same format as `dataset`); None
            uses the first training images for the grids and skips the metrics.
        progress: show the tqdm bar.
    """

    def __init__(self, cfg, dataset, classifier, run_dir, dist: DistInfo | None = None, heldout=None, progress=True):
        self.cfg, self.dataset, self.C = cfg, dataset, classifier
        self.run_dir, self.dist = Path(run_dir), dist or DistInfo()
        self.device = device = self.dist.device
        self.progress = progress
        self.batch_gpu, self.rounds = split_batch(cfg, self.dist.world_size)
        # Process-wide settings stay the caller's: the cuDNN/TF32 flags are set around every stage
        # of the trainer (`_scope`), and the global random generators the training draws from
        # (network init, noise inputs, z) are the trainer's own streams (`RngStreams`), swapped in
        # around the same stages. They stay global generators, not torch.Generator objects passed
        # around, because the networks and losses draw from them in many places and switching would
        # change every seeded run and the checkpoints' random states.
        self.heldout = heldout
        self.rng = RngStreams(device)
        with self._scope():
            self._build(dataset, classifier)

    def _scope(self) -> contextlib.ExitStack:
        """The trainer's random streams and, on CUDA, its TF32/cuDNN settings, for one stage."""
        stack = contextlib.ExitStack()
        stack.enter_context(self.rng)
        if self.device.type == "cuda":
            stack.enter_context(cuda_math(self.cfg.tf32))
        return stack

    def _build(self, dataset, classifier) -> None:
        cfg, device = self.cfg, self.device
        torch.manual_seed(cfg.seed)  # the same initial weights on every process
        net = cfg.network
        self.G, self.D, self.E = (m.to(device).train() for m in
                                  (net.build_generator(), net.build_discriminator(), net.build_encoder()))
        align_encoder_to_mapping(self.E, self.G, torch.stack([dataset[i][0] for i in range(min(64, len(dataset)))]))
        for m in (self.G, self.D, self.E):
            broadcast_module(m, self.dist)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.E_ema = copy.deepcopy(self.E).eval().requires_grad_(False)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        for m in (self.G, self.D, self.E, self.G_ema, self.E_ema):
            m.to(memory_format=self.memory_format)

        self.opt_G = _adam(self.G.parameters(), cfg.g_lr, cfg, cfg.pl_interval if cfg.pl_weight else None)
        self.opt_D = _adam(self.D.parameters(), cfg.d_lr, cfg, cfg.r1_interval if cfg.r1_gamma else None)
        self.opt_E = _adam(self.E.parameters(), cfg.e_lr, cfg, None)

        # Everything random from here on differs per process.
        rank_seed = cfg.seed * 1000 + self.dist.rank
        torch.manual_seed(rank_seed)
        np.random.seed(rank_seed % 2**32)
        random.seed(rank_seed)
        self.augment = DiffAugment(parse_ops(cfg.augment), cfg.augment_p, device, seed=rank_seed + 1)
        self.pl_mean = torch.zeros([], device=device)
        self.loss = StylexLoss(self.G, self.D, self.E, classifier, cfg, self.augment, self.pl_mean,
                               autocast=self._autocast_factory(), compile=cfg.compile)
        self.counters = {"nimg": 0, "iteration": 0, "g_steps": 0, "d_steps": 0, "bad_steps": 0, "bad_in_a_row": 0}
        self.loss_scale = 2.0**16 if cfg.precision == "fp16" else 1.0
        self.good_in_a_row = 0
        self.stop_requested = False
        self._stats: dict[str, list] = {}
        self._kind_time: dict[str, list] = {}
        self._data = None  # the data iterator, started at the first batch (after any resume)
        self._oracle = None  # the world's factor oracle, loaded for the first metrics on a world

    # -- set-up helpers -----------------------------------------------------------------------

    def _autocast_factory(self):
        if self.cfg.precision == "fp32" or self.device.type != "cuda":
            return None
        dtype = torch.bfloat16 if self.cfg.precision == "bf16" else torch.float16
        return lambda: torch.autocast("cuda", dtype=dtype)

    def _loader_iter(self):
        sampler = InfiniteSampler(len(self.dataset), self.dist.rank, self.dist.world_size, self.cfg.seed,
                                  start=self.counters["iteration"] * self.rounds * self.batch_gpu)
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=self.batch_gpu, sampler=sampler, num_workers=self.cfg.workers,
            pin_memory=self.device.type == "cuda", persistent_workers=self.cfg.workers > 0,
            generator=torch.Generator().manual_seed(self.cfg.seed),  # keeps the global RNG untouched
        )
        return iter(loader)

    def _next_real(self):
        if self._data is None:
            self._data = self._loader_iter()
        img = next(self._data)[0].to(self.device, non_blocking=True).to(memory_format=self.memory_format)
        return self.loss.classify_real(img)

    # -- state --------------------------------------------------------------------------------

    @_in_scope
    def state_dict(self) -> dict:
        """Everything for an exact resume (collective: every process must call it)."""
        rank_states = gather_objects({**_rng_state(self.device), "augment": self.augment.state_dict()}, self.dist)
        return {
            "config": to_dict(self.cfg),
            "counters": {**self.counters, "loss_scale": self.loss_scale, "good_in_a_row": self.good_in_a_row},
            "G": self.G.state_dict(), "D": self.D.state_dict(), "E": self.E.state_dict(),
            "G_ema": self.G_ema.state_dict(), "E_ema": self.E_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(), "opt_E": self.opt_E.state_dict(),
            "loss_state": {"pl_mean": self.pl_mean.detach().cpu()},
            "rank_states": [_cpu(s) for s in rank_states],
        }

    @_in_scope
    def load_state_dict(self, state: dict) -> None:
        for name in ("G", "D", "E", "G_ema", "E_ema"):
            getattr(self, name).load_state_dict(state[name])
        for name in ("opt_G", "opt_D", "opt_E"):
            getattr(self, name).load_state_dict(state[name])
        self.pl_mean.copy_(state["loss_state"]["pl_mean"])
        counters = dict(state["counters"])
        self.loss_scale = counters.pop("loss_scale")
        self.good_in_a_row = counters.pop("good_in_a_row")
        self.counters.update(counters)
        self._data = None
        ranks = state["rank_states"]
        if len(ranks) == self.dist.world_size:
            _set_rng_state(ranks[self.dist.rank], self.device)
            self.augment.load_state_dict(ranks[self.dist.rank]["augment"])
        else:  # another process count: continue with fresh, still deterministic streams
            seed = self.cfg.seed * 1000 + self.dist.rank + 7919 * self.counters["iteration"]
            torch.manual_seed(seed)
            self.augment.generator.manual_seed(seed + 1)

    def save(self) -> Path | None:
        """Write a checkpoint (main process) and return its path (None elsewhere). Collective."""
        state = self.state_dict()
        if not self.dist.is_main:
            return None
        return ckpt.save_checkpoint(self.run_dir, state, keep=self.cfg.keep_checkpoints)

    # -- one iteration ------------------------------------------------------------------------

    def _g_kinds(self) -> list[str]:
        cfg = self.cfg
        if cfg.encoder_only:
            return ["encoder"]
        if not cfg.alternate:
            return ["encoder", "noise"]
        return ["encoder" if self.counters["g_steps"] % 2 == 0 else "noise"]

    def _apply(self, modules, optimizers, loss_sum: torch.Tensor) -> bool:
        """Average gradients (and the loss) over processes, and take the optimizer steps unless
        anything is non-finite; returns whether the step was taken."""
        params = [p for m in modules for p in m.parameters() if p.grad is not None]
        flat = torch.cat([p.grad.flatten() for p in params] + [loss_sum.reshape(1).to(params[0].grad.dtype)])
        if self.loss_scale != 1.0:
            flat[:-1] /= self.loss_scale
        all_reduce_mean(flat, self.dist)
        ok = bool(torch.isfinite(flat).all())  # one host sync per optimizer step
        if ok:
            offset = 0
            for p in params:
                p.grad.copy_(flat[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
            for opt in optimizers:
                opt.step()
            self.counters["bad_in_a_row"] = 0
        else:
            self.counters["bad_steps"] += 1
            self.counters["bad_in_a_row"] += 1
        self._update_loss_scale(ok)
        for m in modules:
            m.zero_grad(set_to_none=True)
        return ok

    def _update_loss_scale(self, ok: bool) -> None:
        """fp16 only: halve the loss scale after an overflow, double it after 1000 good steps."""
        if self.cfg.precision != "fp16":
            return
        self.good_in_a_row = self.good_in_a_row + 1 if ok else 0
        if not ok:
            self.loss_scale = max(self.loss_scale / 2, 1.0)
        elif self.good_in_a_row % 1000 == 0:
            self.loss_scale = min(self.loss_scale * 2, 2.0**24)

    def _record(self, stats: dict) -> None:
        for k, v in stats.items():
            entry = self._stats.setdefault(k, [0.0, 0])
            entry[0] = entry[0] + v
            entry[1] += 1

    def _time(self, what: str, seconds: float) -> None:
        entry = self._kind_time.setdefault(what, [0.0, 0])
        entry[0] += seconds
        entry[1] += 1

    def _set_trainable(self, *trainable) -> None:
        for m in (self.G, self.D, self.E):
            m.requires_grad_(any(m is t for t in trainable))

    @_in_scope
    def iteration(self) -> None:
        """One iteration (see the module docstring)."""
        cfg, counters, loss = self.cfg, self.counters, self.loss
        gain = self.loss_scale / self.rounds
        reals = [self._next_real() for _ in range(self.rounds)]

        if counters["nimg"] < cfg.warmup_kimg * 1000:
            self._warmup_iteration(reals, gain)
            return
        kinds = self._g_kinds()
        t0 = time.perf_counter()
        self._set_trainable(self.G, self.E)
        fakes, total = [[] for _ in reals], 0.0
        for r, real in enumerate(reals):
            for kind in kinds:
                if kind == "encoder":
                    stats, value, fake = loss.encoder_phase(real, gain)
                else:
                    stats, value, fake = loss.noise_phase(real, gain)
                fakes[r].append(fake)
                total = total + value / self.rounds
                self._record(stats)
        total = total + self._condition_sparsity()
        trained = [self.G, self.E] if "encoder" in kinds or cfg.latent_cycle else [self.G]
        self._apply(trained, [self.opt_G, self.opt_E][: len(trained)], total)
        counters["g_steps"] += 1

        main_time = time.perf_counter() - t0
        if cfg.pl_weight and counters["iteration"] % cfg.pl_interval == 0:
            t0 = time.perf_counter()
            self._set_trainable(self.G)
            total = 0.0
            for real in reals:
                reduce = (lambda t: all_reduce_mean(t, self.dist)) if self.dist.enabled else None
                stats, value = loss.pl_phase(real.c, gain, reduce_mean=reduce)
                total = total + value / self.rounds
                self._record(stats)
            self._apply([self.G], [self.opt_G], total)
            self._time("pl", time.perf_counter() - t0)

        t0 = time.perf_counter()
        self._set_trainable(self.D)
        total = 0.0
        for real, fake in zip(reals, fakes):
            stats, value = loss.d_phase(real, fake, gain)
            total = total + value / self.rounds
            self._record(stats)
        self._apply([self.D], [self.opt_D], total)
        counters["d_steps"] += 1
        self._time("+".join(kinds), main_time + time.perf_counter() - t0)

        if cfg.r1_gamma and counters["iteration"] % cfg.r1_interval == 0:
            t0 = time.perf_counter()
            total = 0.0
            for real in reals:
                stats, value = loss.r1_phase(real, gain)
                total = total + value / self.rounds
                self._record(stats)
            self._apply([self.D], [self.opt_D], total)
            self._time("r1", time.perf_counter() - t0)

        self._update_ema()
        counters["iteration"] += 1
        counters["nimg"] += cfg.batch

    def _warmup_iteration(self, reals, gain: float) -> None:
        """An autoencoder warm-up iteration: one G+E step on the reconstruction terms only."""
        t0 = time.perf_counter()
        self._set_trainable(self.G, self.E)
        total = 0.0
        for real in reals:
            stats, value, _ = self.loss.encoder_phase(real, gain, warmup=True)
            total = total + value / self.rounds
            self._record(stats)
        total = total + self._condition_sparsity()
        self._apply([self.G, self.E], [self.opt_G, self.opt_E], total)
        self.counters["g_steps"] += 1
        self._time("warmup", time.perf_counter() - t0)
        self._update_ema()
        self.counters["iteration"] += 1
        self.counters["nimg"] += self.cfg.batch

    def _condition_sparsity(self):
        """Back-propagates the condition-sparsity penalty of this G step (0 when it is off)."""
        if not self.cfg.condition_sparsity:
            return 0.0
        stats, value = self.loss.condition_sparsity_phase(self.loss_scale)
        self._record(stats)
        return value

    @torch.no_grad()
    def _update_ema(self) -> None:
        """EMA with a half-life of ema_kimg thousand images, at most ema_rampup x images seen."""
        cfg = self.cfg
        half_life = cfg.ema_kimg * 1000
        if cfg.ema_rampup:
            half_life = min(half_life, self.counters["nimg"] * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(half_life, 1e-8))
        for ema, net in ((self.G_ema, self.G), (self.E_ema, self.E)):
            torch._foreach_lerp_(list(ema.parameters()), list(net.parameters()), 1.0 - beta)
            for b_ema, b in zip(ema.buffers(), net.buffers()):
                b_ema.copy_(b)

    # -- reporting ----------------------------------------------------------------------------

    def _tick_values(self, seconds: float, kimg_done: float) -> dict:
        """Means of the stats since the last tick (one host sync), timings and counters."""
        values = {k: float(s / n) for k, (s, n) in self._stats.items()}
        for kind, (s, n) in self._kind_time.items():
            values[f"time/{kind}_ms"] = 1000 * s / n  # G+D steps of an encoder/noise iteration; pl; r1
        values["time/sec_per_kimg"] = seconds / max(kimg_done, 1e-9)
        values["progress/bad_steps"] = self.counters["bad_steps"]
        values["progress/g_steps"] = self.counters["g_steps"]
        self._stats.clear()
        self._kind_time.clear()
        return values

    def _heldout_images(self, n: int) -> torch.Tensor:
        source = self.heldout if self.heldout is not None else self.dataset
        return torch.stack([source[i][0] for i in range(min(n, len(source)))])

    def _grid_images(self, n: int) -> torch.Tensor:
        """n held-out images (training images without a held-out set), every class in turn."""
        from stylex.training.samples import balanced_indices

        source = self.heldout if self.heldout is not None else self.dataset
        labels = getattr(source, "labels", None)
        chosen = balanced_indices(labels, n) if labels is not None else range(min(n, len(source)))
        return torch.stack([source[i][0] for i in chosen])

    def _write_samples(self) -> None:
        from stylex.training.samples import render_sample_grid

        images = self._grid_images(GRID_IMAGES)
        z = torch.randn(len(images), self.G.z_dim, generator=torch.Generator().manual_seed(self.cfg.seed))
        grid = render_sample_grid(self.G_ema, self.E_ema, self.C, images, z, self.cfg.conditioning,
                                  self.cfg.class_names)
        path = self.run_dir / "samples" / f"samples-{self.counters['nimg']:012d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        grid.save(path)

    def _metrics(self) -> dict:
        from stylex.training.metrics import heldout_metrics

        images = self._heldout_images(self.cfg.metrics_images)
        batch = max(self.batch_gpu, 16)
        values = heldout_metrics(self.G_ema, self.E_ema, self.C, images, self.cfg.conditioning,
                                 batch=batch, seed=self.cfg.seed)
        if getattr(self.heldout, "factors", None):  # a synthetic world: the factor oracle judges (logged only)
            values.update(self._world_fidelity(images, batch))
        return {f"metrics/{k}": v for k, v in values.items()}

    def _world_fidelity(self, images: torch.Tensor, batch: int) -> dict:
        from stylex.evaluate import fidelity
        from stylex.oracle import load_oracle

        if self._oracle is None:
            self._oracle = load_oracle(device=self.device, progress=False)
        result = fidelity(self.G_ema, self.E_ema, self.C, images, self._oracle, self.cfg.conditioning,
                          samples=len(images), batch=batch, seed=self.cfg.seed)
        values = {f"fidelity_{k}": v for k, v in result["factor_fidelity"].items()}
        values["fidelity_min"] = result["min_factor_fidelity"]
        confidence = result["sample_confidence"]
        values["sample_oracle_confidence"] = sum(confidence.values()) / len(confidence)
        return values

    # -- the run ------------------------------------------------------------------------------

    def _crossed(self, every_kimg: float, before: int) -> bool:
        every = round(every_kimg * 1000)
        return every > 0 and self.counters["nimg"] // every > before // every

    def _request_stop(self, signum, frame) -> None:
        self.stop_requested = True

    @_in_scope
    def train(self) -> dict:
        """Run until `kimg` thousand images (or a SIGINT/SIGTERM: finish the step, save, return).

        Returns {"nimg", "checkpoint" (main process), "metrics" (last held-out metrics),
        "interrupted"}.
        """
        cfg, counters, main = self.cfg, self.counters, self.dist.is_main
        total = round(cfg.kimg * 1000)
        log = RunLog(self.run_dir, total / 1000, counters["nimg"] / 1000, enabled=main, progress=self.progress)
        handlers = {}
        with contextlib.suppress(ValueError):  # signal handlers only work in the main thread
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self._request_stop)
        path, metrics, interrupted = None, {}, False
        tick_start, tick_nimg = time.perf_counter(), counters["nimg"]
        try:
            while counters["nimg"] < total:
                before = counters["nimg"]
                self.iteration()
                log.advance(cfg.batch / 1000)
                if counters["bad_in_a_row"] >= cfg.max_bad_steps:
                    last = ckpt.latest_checkpoint(self.run_dir)
                    raise StylexError(
                        f"{counters['bad_in_a_row']} optimizer steps in a row had non-finite losses or gradients "
                        f"(--max-bad-steps {cfg.max_bad_steps}); training stopped at {counters['nimg'] / 1000:.3f} "
                        f"kimg. Last good checkpoint: {last or 'none'}. Lower the learning rates, use "
                        "--precision fp32, or check the data and classifier for NaNs."
                    )
                done = counters["nimg"] >= total
                if done or self._crossed(cfg.tick_kimg, before):
                    now = time.perf_counter()
                    values = self._tick_values(now - tick_start, (counters["nimg"] - tick_nimg) / 1000)
                    tick_start, tick_nimg = now, counters["nimg"]
                    postfix = {"s/kimg": f"{values['time/sec_per_kimg']:.0f}"}
                    postfix.update({k.split("/")[1]: f"{values[k]:.3f}" for k in ("G/rec_l1", "G/kl", "D/loss")
                                    if k in values})
                    log.record(counters["nimg"] / 1000, values, postfix)
                interrupted = any_process(self.stop_requested, self.dist)
                if interrupted or done or self._crossed(cfg.snap_kimg, before):
                    path = self.save()
                if interrupted:
                    log.message(f"stopped by signal at {counters['nimg'] / 1000:.3f} kimg; saved {path}")
                    break
                if main and (done or self._crossed(cfg.sample_every_kimg, before)):
                    self._write_samples()
                if main and self.heldout is not None and (done or self._crossed(cfg.metrics_every_kimg, before)):
                    metrics = self._metrics()
                    log.record(counters["nimg"] / 1000, metrics)
                    log.message("metrics at {:.2f} kimg: {}".format(
                        counters["nimg"] / 1000, ", ".join(f"{k[8:]} {v:.4f}" for k, v in metrics.items())))
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            log.close()
        return {"nimg": counters["nimg"], "checkpoint": path, "metrics": metrics, "interrupted": interrupted}


def _cpu(obj):
    """Move every tensor inside nested dicts/lists/tuples to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj
