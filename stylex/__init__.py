"""stylex: StylEx and AttFind in PyTorch.

Train a classifier-conditioned StyleGAN2 with an encoder, find the StyleSpace coordinates that
drive a classifier's decisions, and show them as counterfactual images.

The pipeline from Python (`stylex.api`; nothing heavy is imported before a call):

    import stylex

    run = stylex.train(out="runs/smile", data="world/", classifier="smile.pt", kimg=0.5)
    found = stylex.run_attfind(out="runs/smile/attfind/records.h5", run=run.out, num_images=50)
    stylex.explain(found, out="runs/smile/explain")
    stylex.run_evaluation("sufficiency", found, top_k=5).values

(`stylex.attfind` and `stylex.evaluate` are the sub-modules of the method; their pipeline
functions are `stylex.api.attfind` and `stylex.api.evaluate`, exported here as `run_attfind` and
`run_evaluation`.)
"""

__version__ = "0.1.0"

# Package name -> name in stylex.api.
_API = {"train": "train", "explain": "explain", "run_attfind": "attfind", "run_evaluation": "evaluate"}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from stylex import api

        return getattr(api, _API[name])
    raise AttributeError(f"module 'stylex' has no attribute {name!r}")
