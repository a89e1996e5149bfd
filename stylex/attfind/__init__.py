"""AttFind (docs/METHOD.md section 4): find the StyleSpace coordinates that drive a classifier.

    records   = compute_records("run/attfind/records.h5", AttFindNetworks(G, E, classifier),   # Step A
                                AnalysedImages(images, labels), EditSpec.for_generator(G), "exact")
    selection = select_from_records(records)                                                # Steps B-E
    save_selection(selection, attributes_path(records.path))

Modules: `effects` (the edits, `EditSpec`, and one image's effects: `ExactEffects`, batched, and
`ReferenceEffects`), `taylor` (`TaylorEffects`), `methods` (`EFFECT_METHODS`, the methods by name),
`records` (the resumable records file, `RecordsFile`, shards), `selection` (Steps B-E, per-image
explanations, attributes.json), `editor` (render and classify edited images), `context` (load
everything from a records file).
"""

from stylex.attfind.context import AttFindContext, load_context
from stylex.attfind.editor import Editor
from stylex.attfind.effects import EditSpec, EffectMethod, ExactEffects, ImageEffects, ReferenceEffects
from stylex.attfind.methods import EFFECT_METHODS, effect_method
from stylex.attfind.records import (
    AnalysedImages,
    AttFindNetworks,
    Records,
    RecordsFile,
    RecordsOptions,
    compute_records,
    load_records,
    merge_records,
    shard_path,
)
from stylex.attfind.selection import (
    Attribute,
    Edit,
    Selection,
    SelectionOptions,
    attributes_path,
    explain_image,
    load_selection,
    save_selection,
    select_attributes,
    select_from_records,
)
from stylex.attfind.taylor import TaylorEffects

__all__ = [
    "EFFECT_METHODS", "AnalysedImages", "AttFindContext", "AttFindNetworks", "Attribute", "Edit", "EditSpec",
    "EffectMethod", "Editor", "ExactEffects", "ImageEffects", "Records", "RecordsFile", "RecordsOptions",
    "ReferenceEffects", "Selection", "SelectionOptions", "TaylorEffects",
    "attributes_path", "compute_records", "effect_method", "explain_image", "load_context", "load_records",
    "load_selection", "merge_records", "save_selection", "select_attributes", "select_from_records", "shard_path",
]
