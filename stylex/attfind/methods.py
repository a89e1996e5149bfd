"""The effect methods of AttFind Step A by name (`stylex attfind --method`, the records' `method`).

A new method subclasses `effects.EffectMethod` (a `name`, its options as dataclass fields, and
`effects(G, classifier, styles, spec, discriminator)`) and is registered here.
"""

from __future__ import annotations

from dataclasses import fields

from stylex.attfind.effects import EffectMethod, ExactEffects, ReferenceEffects
from stylex.attfind.taylor import TaylorEffects
from stylex.errors import StylexError

EFFECT_METHODS: dict[str, type[EffectMethod]] = {
    "reference": ReferenceEffects,
    "exact": ExactEffects,
    "taylor": TaylorEffects,
}


def effect_method(method: str | EffectMethod, **options) -> EffectMethod:
    """A method object: `method` itself, or the registered method of that name made with those of
    `options` it takes (the others are ignored, as `--candidates` is with `--method exact`)."""
    if isinstance(method, EffectMethod):
        return method
    if method not in EFFECT_METHODS:
        raise StylexError(f"--method {method}: unknown; allowed: {', '.join(EFFECT_METHODS)}")
    cls = EFFECT_METHODS[method]
    taken = {f.name for f in fields(cls) if f.init}
    return cls(**{k: v for k, v in options.items() if k in taken})
