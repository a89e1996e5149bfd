"""The Trainer keeps process-wide state the caller's: its random streams are its own (the global
generators are swapped in and out around each stage) and a run's numbers do not depend on what the
caller draws between stages."""

import random

import numpy as np
import torch
from training_fakes import RandomImages, tiny_classifier, tiny_config

from stylex.runtime import RngStreams, cuda_math
from stylex.training.loop import Trainer


def _weights(trainer):
    return torch.cat([p.detach().flatten() for p in trainer.G.parameters()])


def test_trainer_leaves_the_global_generators_alone(tmp_path):
    classifier = tiny_classifier()
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    expected = torch.rand(3), np.random.rand(), random.random()
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    trainer = Trainer(tiny_config(), RandomImages(), classifier, tmp_path, progress=False)
    trainer.iteration()
    assert torch.equal(torch.rand(3), expected[0])
    assert np.random.rand() == expected[1] and random.random() == expected[2]


def test_draws_between_iterations_do_not_change_the_run(tmp_path):
    runs = []
    for disturb in (False, True):
        trainer = Trainer(tiny_config(), RandomImages(), tiny_classifier(), tmp_path / str(disturb), progress=False)
        for _ in range(3):
            if disturb:
                torch.rand(10)
            trainer.iteration()
        runs.append(_weights(trainer))
    assert torch.equal(*runs)


def test_streams_nest_and_continue():
    streams = RngStreams()
    with streams:
        torch.manual_seed(1)
        first = torch.rand(2)
        with streams:
            second = torch.rand(2)
    outside = torch.rand(2)
    with streams:
        third = torch.rand(2)
    torch.manual_seed(1)
    assert torch.equal(torch.rand(6), torch.cat([first, second, third]))
    assert not torch.equal(outside, third)


def test_cuda_math_restores_the_flags():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark
    with cuda_math(not saved[0], benchmark=not saved[2]):
        assert torch.backends.cuda.matmul.allow_tf32 is (not saved[0])
        assert torch.backends.cudnn.benchmark is (not saved[2])
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark) == saved
