"""AttFind (docs/METHOD.md section 4): find the StyleSpace coordinates that drive a classifier.

    records   = compute_records("run/attfind/records.h5", G, E, classifier, images, labels)  # Step A
    selection = select_from_records(records)                                                # Steps B-E
    save_selection(selection, attributes_path(records.path))

Modules: `effects` (one image's effects: batched and reference), `records` (the resumable records
file, shards), `selection` (Steps B-E, per-image explanations, attributes.json), `editor` (render
and classify edited images), `context` (load everything from a records file).
"""

from stylex.attfind.context import AttFindContext, load_context
from stylex.attfind.editor import Editor
from stylex.attfind.effects import ImageEffects, image_effects, image_effects_reference
from stylex.attfind.records import Records, compute_records, load_records, merge_records, shard_path
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

__all__ = [
    "AttFindContext", "Attribute", "Edit", "Editor", "ImageEffects", "Records", "Selection", "SelectionOptions",
    "attributes_path", "compute_records", "explain_image", "image_effects", "image_effects_reference",
    "load_context", "load_records", "load_selection", "merge_records", "save_selection", "select_attributes",
    "select_from_records", "shard_path",
]
