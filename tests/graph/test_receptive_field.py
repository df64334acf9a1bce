"""Receptive fields against hand computations (size, jump, start per spatial axis)."""
import pytest

from netspec.spec import load_spec

HEADER = "netspec: 1\ninputs: {image: [1, 64, 64]}\nlayers:\n"


def field(layers: str, node: str | None = None, axis: int = 0):
    graph = load_spec("rf.yaml", text=HEADER + layers, seed=None)
    name = node or graph.outputs[0]
    rf = graph.node(name).rf
    return rf if rf == "global" else tuple(float(v) for v in rf[axis])


def test_stacked_3x3_convs_grow_by_two():
    for depth in (1, 2, 5):
        assert field("  - conv: {filters: 1, kernel: 3, padding: 1}\n" * depth)[0] == 2 * depth + 1


def test_lecture_formula_pool_after_conv():
    # a KxK conv followed by PxP pooling (stride P) sees (P + K - 1) x (P + K - 1)
    for k, p in ((5, 2), (3, 3), (7, 4)):
        size, jump, _ = field(f"  - conv: {{filters: 1, kernel: {k}}}\n  - maxpool: {{kernel: {p}}}\n")
        assert (size, jump) == (p + k - 1, p)


def test_stride_multiplies_the_jump_of_later_layers():
    # conv3 (rf 3) -> pool2 s2 (rf 4, jump 2) -> conv3: 4 + 2*2 = 8
    assert field("  - conv: {filters: 1, kernel: 3}\n  - maxpool: {kernel: 2}\n"
                 "  - conv: {filters: 1, kernel: 3}\n")[:2] == (8, 2)


def test_dilation_widens_the_kernel():
    # k3 d2 sees 5, then k3 d4 adds 8 more
    assert field("  - conv: {filters: 1, kernel: 3, dilation: 2}\n"
                 "  - conv: {filters: 1, kernel: 3, dilation: 4}\n")[0] == 13


def test_start_tracks_padding():
    # without padding the first output is centred on input pixel 1; with padding 1 on pixel 0
    assert field("  - conv: {filters: 1, kernel: 3}\n")[2] == 1.0
    assert field("  - conv: {filters: 1, kernel: 3, padding: 1}\n")[2] == 0.0
    # resnet stem: conv7 s2 p3 then maxpool3 s2 p1 -> 11 pixels, jump 4, centred on 0
    assert field("  - conv: {filters: 1, kernel: 7, stride: 2, padding: 3}\n"
                 "  - maxpool: {kernel: 3, stride: 2, padding: 1}\n") == (11, 4, 0)


def test_transposed_conv_divides_the_jump():
    size, jump, start = field("  - conv: {filters: 1, kernel: 3, stride: 2}\n"
                              "  - conv_transpose: {filters: 1, kernel: 2, stride: 2}\n")
    assert (size, jump) == (3, 1)


def test_merge_takes_the_union_of_fields():
    layers = ("  - conv: {filters: 1, kernel: 5, padding: 2, name: wide}\n"
              "  - conv: {filters: 1, kernel: 1, from: image, name: narrow}\n"
              "  - add: {from: [wide, narrow]}\n")
    assert field(layers) == (5, 1, 0)


def test_flatten_and_dense_see_everything():
    assert field("  - conv: {filters: 1, kernel: 3}\n  - flatten\n  - dense: 4\n") == "global"


def test_each_axis_is_tracked_separately():
    layers = "  - conv: {filters: 1, kernel: [3, 7], stride: [1, 2]}\n  - conv: {filters: 1, kernel: 3}\n"
    assert field(layers, axis=0)[:2] == (5, 1)
    assert field(layers, axis=1)[:2] == (11, 2)


@pytest.mark.parametrize("depth", [2, 4])
def test_tcn_field_doubles_with_dilation(depth):
    # causal convs with kernel 2 and dilations 1, 2, 4, ... see 2**depth steps
    header = "netspec: 1\ninputs: {x: [2, null]}\nlayers:\n"
    layers = "".join(f"  - temporal_conv: {{filters: 2, kernel: 2, dilation: {2 ** i}}}\n" for i in range(depth))
    graph = load_spec("tcn.yaml", text=header + layers, seed=None)
    assert graph.node(graph.outputs[0]).rf[0][0] == 2 ** depth
