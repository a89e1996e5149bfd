import pytest
import torch


def test_index_maps_round_trip(tiny_generator):
    space = tiny_generator.stylespace()
    seen = set()
    for flat in range(space.size):
        layer, channel = space.locate(flat)
        assert space.layers[layer].kind == "conv"
        assert space.flat_index(layer, channel) == flat
        assert space.flat_index(space.layers[layer].name, channel) == flat
        seen.add((layer, channel))
    assert len(seen) == space.size == sum(l.channels for l in space.layers if l.kind == "conv")
    assert space.name(0) == "b4.conv1[0]"
    with pytest.raises(IndexError):
        space.locate(space.size)


def test_torgb_is_optional(tiny_generator):
    conv_only, everything = tiny_generator.stylespace(), tiny_generator.stylespace(include_torgb=True)
    assert everything.size == conv_only.size + sum(l.channels for l in conv_only.layers if l.kind == "torgb")
    with pytest.raises(KeyError):
        conv_only.flat_index("b4.torgb", 0)
    assert everything.name(everything.flat_index("b4.torgb", 2)) == "b4.torgb[2]"


def test_flatten_unflatten_round_trip(tiny_generator):
    G = tiny_generator
    styles = G.styles(G.mapping(torch.randn(3, 32)), torch.softmax(torch.randn(3, 2), 1))
    for space in (G.stylespace(), G.stylespace(include_torgb=True)):
        flat = space.flatten(styles)
        assert flat.shape == (3, space.size)
        back = space.unflatten(flat, base=styles)
        assert all(torch.equal(a, b) for a, b in zip(back, styles))
    with pytest.raises(ValueError, match="base"):
        G.stylespace().unflatten(G.stylespace().flatten(styles))


def test_batched_edit_builds_each_row_from_its_image(tiny_generator):
    G = tiny_generator
    space = G.stylespace()
    styles = G.styles(G.mapping(torch.randn(2, 32)), torch.softmax(torch.randn(2, 2), 1))
    coords = torch.tensor([0, 7, space.size - 1, 7])
    values = torch.tensor([10.0, -4.0, 2.5, 1.0])
    rows = torch.tensor([0, 0, 1, 1])
    edited = space.edit(styles, coords, values, rows)
    base, out = space.flatten(styles), space.flatten(edited)
    for b in range(4):
        expected = base[rows[b]].clone()
        expected[coords[b]] = values[b]
        assert torch.equal(out[b], expected)
    # toRGB styles (outside the space) are carried over from each row's image.
    torgb = [i for i, l in enumerate(space.layers) if l.kind == "torgb"]
    assert all(torch.equal(edited[i], styles[i][rows]) for i in torgb)
    # Rendering the edits works in one batched call.
    assert G.synthesis(edited).shape == (4, 3, 16, 16)
