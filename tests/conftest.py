import pytest
import torch

# Two pytest workers share two cores: one thread each avoids oversubscription.
torch.set_num_threads(1)


@pytest.fixture
def tiny_generator():
    """A 16 px generator small enough for fast tests, in eval mode."""
    from stylex.networks import Generator

    torch.manual_seed(0)
    G = Generator(resolution=16, c_dim=2, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
    return G.eval()


@pytest.fixture(scope="module")
def keyed():
    """A StylEx whose one deciding coordinate is known (tests/keyed_stylex.py): a 16 px keyed
    generator, an encoder whose w[0] is the image's mean brightness (so the key style is 4 x the
    mean), a brightness classifier (class 1 = bright) and six images, three dark and three bright."""
    from types import SimpleNamespace

    from keyed_stylex import BrightnessClassifier, MeanEncoder, make_keyed

    from stylex.networks import Generator

    torch.manual_seed(0)
    G = Generator(resolution=16, c_dim=2, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
    key = make_keyed(G, 4 * torch.eye(32)[0])
    means = torch.tensor([-0.6, -0.35, -0.1, 0.15, 0.4, 0.65])
    images = (means.view(-1, 1, 1, 1) + 0.05 * torch.randn(6, 3, 16, 16)).clamp(-1, 1)
    return SimpleNamespace(G=G.eval(), E=MeanEncoder(32), classifier=BrightnessClassifier(), images=images, key=key,
                           class_names=["dark", "bright"])


@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory):
    """(root, world, classifier) of the tiny end-to-end runs: a 40-image 32 px smile world and a random
    2-class small-cnn classifier file in a new folder `root`, where the tests write their runs.
    Module-scoped, not session-scoped: each module writes its own runs beside them (root/run, ...)."""
    from stylex.classifiers import build_classifier, save_classifier
    from stylex.world import generate_world

    root = tmp_path_factory.mktemp("tiny")
    world = generate_world(root / "world", 40, 32, label="smile", seed=0, progress=False)
    torch.manual_seed(0)
    classifier = root / "smile.pt"
    save_classifier(classifier, build_classifier("small-cnn", 2, width=4), arch="small-cnn",
                    arch_kwargs={"width": 4}, class_names=["frown", "smile"], input_size=32, normalization=None)
    return root, str(world), str(classifier)


@pytest.fixture(scope="module")
def tiny_run(tiny_inputs):
    """root/run: a run directory on `tiny_inputs` whose checkpoint holds tiny random networks, as
    `stylex train` writes it (so attfind, explain and evaluate run on it without training)."""
    from stylex.classifiers import load_classifier
    from stylex.config import NetworkConfig, TrainingConfig, to_dict
    from stylex.training.checkpoint import save_checkpoint

    root, world, classifier = tiny_inputs
    cfg = NetworkConfig(resolution=32, z_dim=16, w_dim=16, mapping_layers=1, g_channel_base=128, g_channel_max=8,
                        d_channel_base=128, d_channel_max=8)
    config = TrainingConfig(network=cfg, data=world, classifier=classifier,
                            classifier_fingerprint=load_classifier(classifier).fingerprint)
    G, D, E = cfg.build_generator(), cfg.build_discriminator(), cfg.build_encoder()
    save_checkpoint(root / "run", {"config": to_dict(config), "G_ema": G.state_dict(), "E_ema": E.state_dict(),
                                   "D": D.state_dict(), "counters": {"nimg": 0}})
    return root / "run"


@pytest.fixture(scope="module")
def tiny_records(tmp_path_factory):
    """(G, classifier, records) of AttFind on test_attfind_records' tiny random StylEx, for the
    modules that draw or package its result."""
    from test_attfind_records import build_tiny, run_records

    tiny = build_tiny()
    G, _, classifier, _ = tiny
    return G, classifier, run_records(tmp_path_factory.mktemp("records") / "records.h5", tiny)
