"""One-layer Keras models, one per importer table entry (and per notable option): each
imports into a graph whose torch build computes what Keras computes (tolerance in
keras_import_cases.py), with no transpose in the graph unless the case says why, and,
where netspec counts parameters as Keras does, the same parameter count."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import pytest
from keras import layers as L

from keras.src.applications.convnext import LayerScale

from netspec.backends.keras import layers as NL
from netspec.backends.keras.emit_lowlevel import ConstantValue, LowLevel
from netspec.converters.keras import TABLE, class_key

from keras_import_cases import assert_matches, keras_count, keras_inputs, randomize, transposes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@dataclass
class Case:
    id: str
    shape: tuple | list          # Keras input shape(s) without the batch axis
    build: Callable              # Keras tensors -> Keras tensor(s)
    transposes: int = 0          # transposes the graph needs (Keras mixes axes there)
    same_params: bool = True     # netspec counts what Keras counts
    dtype: str = "float32"
    ids: bool = False            # float inputs holding token ids

    def model(self):
        shapes = self.shape if isinstance(self.shape, list) else [self.shape]
        inputs = [keras.Input(s, dtype=self.dtype, name=f"in{i}") for i, s in enumerate(shapes)]
        out = self.build(*inputs)
        return randomize(keras.Model(inputs, out, name=self.id))


def _se(x):
    """Squeeze-and-excitation: a broadcast multiply of a map by per-channel weights."""
    s = L.GlobalAveragePooling2D(keepdims=True)(x)
    s = L.Conv2D(4, 1, activation="sigmoid")(s)
    return L.Multiply()([x, s])


def _two(op):
    return lambda x: op()([L.Conv2D(4, 3, padding="same")(x), L.Conv2D(4, 1)(x)])


def _nested(x):
    inner = keras.Sequential([keras.Input((6, 6, 3)), L.Conv2D(4, 3), L.ReLU()], name="inner")
    return L.Flatten()(inner(x))


def _lowlevel(x):
    c = ConstantValue((1, 5))(x)
    return LowLevel("binary", {"fn": "mul"})([LowLevel("unary", {"fn": "exp"})([x]), c])


CASES = [
    # ------------------------------------------------ convolutions
    Case("conv2d_same_stride_relu", (9, 9, 3), lambda x: L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)),
    Case("conv2d_valid_dilated", (9, 9, 3), lambda x: L.Conv2D(4, 3, dilation_rate=2, use_bias=False)(x)),
    Case("conv2d_grouped", (7, 7, 6), lambda x: L.Conv2D(9, 3, groups=3, padding="same")(x)),
    Case("conv2d_channels_first", (3, 8, 8), lambda x: L.Conv2D(4, 3, data_format="channels_first")(x)),
    Case("channels_first_model", (2, 6, 6), lambda x: L.Dense(3)(L.Flatten(data_format="channels_first")(
        L.MaxPooling2D(data_format="channels_first")(L.BatchNormalization(axis=1)(
            L.Conv2D(4, 3, padding="same", data_format="channels_first")(x)))))),
    Case("conv1d_causal", (10, 3), lambda x: L.Conv1D(4, 3, padding="causal", dilation_rate=2)(x)),
    Case("conv3d", (5, 6, 7, 2), lambda x: L.Conv3D(3, 2, strides=(1, 2, 1), padding="same")(x)),
    Case("depthwise2d", (8, 8, 3), lambda x: L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(x)),
    Case("depthwise1d", (9, 4), lambda x: L.DepthwiseConv1D(3, activation="relu6")(x)),
    Case("separable2d", (8, 8, 3), lambda x: L.SeparableConv2D(5, 3, padding="same", depth_multiplier=2)(x)),
    Case("separable1d", (9, 3), lambda x: L.SeparableConv1D(4, 3)(x)),
    Case("conv2d_transpose_same", (5, 5, 3), lambda x: L.Conv2DTranspose(4, 3, strides=2, padding="same")(x)),
    Case("conv2d_transpose_valid", (5, 5, 3), lambda x: L.Conv2DTranspose(4, (2, 3), strides=(3, 2))(x)),
    Case("conv2d_transpose_output_padding", (5, 5, 3),
         lambda x: L.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1)(x)),
    Case("conv1d_transpose", (6, 3), lambda x: L.Conv1DTranspose(2, 4, strides=2, padding="same")(x)),
    Case("conv3d_transpose", (3, 4, 3, 2), lambda x: L.Conv3DTranspose(2, 2, strides=2)(x)),
    # ------------------------------------------------ dense and embedding
    Case("dense_vector", (7,), lambda x: L.Dense(5, activation="tanh")(x)),
    Case("dense_sequence", (4, 6), lambda x: L.Dense(3)(x)),
    Case("dense_on_channels", (5, 5, 3), lambda x: L.Dense(4)(x)),
    Case("flatten_dense", (5, 4, 3), lambda x: L.Dense(6, activation="softmax")(L.Flatten()(x))),
    Case("dense_reshape_conv", (6,), lambda x: L.Conv2D(2, 3)(L.Reshape((4, 4, 3))(L.Dense(48, activation="relu")(x)))),
    Case("embedding", (6,), lambda x: L.Embedding(10, 4)(x), dtype="int32"),
    # Keras casts float ids; the graph declares an input read only by embeddings int64
    Case("embedding_float_ids", (6,), lambda x: L.Embedding(10, 4)(x), ids=True),
    # ------------------------------------------------ activations
    *[Case(f"activation_{name}", (4, 4, 3), lambda x, n=name: L.Activation(n)(x))
      for name in ("relu", "relu6", "sigmoid", "tanh", "softmax", "elu", "leaky_relu", "gelu", "silu",
                   "hard_sigmoid", "hard_silu", "linear")],
    Case("relu", (6,), lambda x: L.ReLU()(x)),
    Case("relu_max", (6,), lambda x: L.ReLU(max_value=1.5)(x)),
    Case("relu_slope", (6,), lambda x: L.ReLU(negative_slope=0.1)(x)),
    Case("leaky_relu", (6,), lambda x: L.LeakyReLU(negative_slope=0.3)(x)),
    Case("elu", (6,), lambda x: L.ELU(alpha=0.5)(x)),
    Case("softmax_channels", (4, 4, 3), lambda x: L.Softmax()(x)),
    Case("softmax_time", (5, 3), lambda x: L.Softmax(axis=1)(x)),
    # ------------------------------------------------ merges
    Case("add", (6, 6, 3), _two(L.Add)),
    Case("multiply", (6, 6, 3), _two(L.Multiply)),
    Case("subtract", (6, 6, 3), _two(L.Subtract)),
    Case("maximum", (6, 6, 3), _two(L.Maximum)),
    Case("minimum", (6, 6, 3), _two(L.Minimum)),
    Case("average", (6, 6, 3), _two(L.Average)),
    Case("squeeze_excite", (6, 6, 4), _se),
    Case("concat_channels", (6, 6, 3), lambda x: L.Concatenate()([x, L.Conv2D(2, 1)(x)])),
    Case("concat_height", (6, 6, 3), lambda x: L.Concatenate(axis=1)([x, L.Conv2D(3, 1)(x)])),
    Case("concat_flattened", [(3, 3, 2), (4,)], lambda x, y: L.Dense(3)(L.Concatenate()([L.Flatten()(x), y]))),
    # ------------------------------------------------ pooling
    Case("maxpool2d_same", (7, 7, 3), lambda x: L.MaxPooling2D(3, strides=2, padding="same")(x)),
    Case("maxpool1d", (9, 3), lambda x: L.MaxPooling1D(2)(x)),
    Case("maxpool3d", (4, 4, 4, 2), lambda x: L.MaxPooling3D(2)(x)),
    Case("avgpool2d_same", (7, 7, 3), lambda x: L.AveragePooling2D(3, strides=2, padding="same")(x)),
    Case("avgpool1d", (9, 3), lambda x: L.AveragePooling1D(3, strides=2)(x)),
    Case("avgpool3d", (4, 4, 4, 2), lambda x: L.AveragePooling3D(2, padding="same")(x)),
    *[Case(f"global_{cls.__name__}", shape, lambda x, c=cls: c()(x))
      for cls, shape in ((L.GlobalAveragePooling1D, (7, 3)), (L.GlobalAveragePooling2D, (5, 5, 3)),
                         (L.GlobalAveragePooling3D, (3, 3, 3, 2)), (L.GlobalMaxPooling1D, (7, 3)),
                         (L.GlobalMaxPooling2D, (5, 5, 3)), (L.GlobalMaxPooling3D, (3, 3, 3, 2)))],
    Case("global_keepdims", (5, 5, 3), lambda x: L.GlobalMaxPooling2D(keepdims=True)(x)),
    # ------------------------------------------------ normalisation
    Case("batchnorm_map", (5, 5, 3), lambda x: L.BatchNormalization(epsilon=1e-3)(x)),
    # without center Keras has no beta; netspec's batchnorm always has a bias (zero here)
    Case("batchnorm_vector", (6,), lambda x: L.BatchNormalization(center=False)(x), same_params=False),
    Case("batchnorm_flattened", (3, 3, 2), lambda x: L.BatchNormalization()(L.Flatten()(x))),
    # netspec's batchnorm normalises axis 1: a sequence's features move there (one transpose);
    # the Dense after it reads them there as the 1x1 convolution it is
    Case("batchnorm_sequence", (5, 4), lambda x: L.Dense(3)(L.BatchNormalization()(L.Dense(4)(x))), transposes=1),
    Case("torch_batchnorm", (5, 5, 3), lambda x: NL.TorchBatchNorm(axis=-1, momentum=0.9, epsilon=1e-5)(x)),
    Case("layernorm_sequence", (5, 4), lambda x: L.LayerNormalization()(x)),
    # normalising a map's channels: netspec's layernorm takes trailing axes only
    Case("layernorm_channels", (4, 4, 3), lambda x: L.Conv2D(2, 1)(L.LayerNormalization()(L.Conv2D(3, 1)(x))),
         transposes=2),
    Case("netspec_layernorm", (5, 4), lambda x: NL.LayerNorm([1, 2], 1e-5)(x)),
    # ------------------------------------------------ shape
    Case("zero_padding1d", (6, 3), lambda x: L.ZeroPadding1D((1, 2))(x)),
    Case("zero_padding2d", (5, 5, 3), lambda x: L.ZeroPadding2D(((1, 0), (2, 1)))(x)),
    Case("zero_padding3d", (3, 3, 3, 2), lambda x: L.ZeroPadding3D(1)(x)),
    Case("zero_padding_conv", (5, 5, 3), lambda x: L.Conv2D(4, 3)(L.ZeroPadding2D(1)(x))),
    Case("cropping1d", (7, 3), lambda x: L.Cropping1D((1, 2))(x)),
    Case("cropping2d", (7, 7, 3), lambda x: L.Cropping2D(((1, 0), (2, 1)))(x)),
    Case("cropping3d", (5, 5, 5, 2), lambda x: L.Cropping3D(1)(x)),
    Case("upsampling1d", (4, 3), lambda x: L.UpSampling1D(3)(x)),
    Case("upsampling2d_nearest", (4, 4, 3), lambda x: L.UpSampling2D((2, 3))(x)),
    Case("upsampling2d_bilinear", (4, 4, 3), lambda x: L.UpSampling2D(2, interpolation="bilinear")(x)),
    Case("upsampling3d", (2, 3, 2, 2), lambda x: L.UpSampling3D(2)(x)),
    Case("dropout", (4, 4, 3), lambda x: L.Dropout(0.3)(x)),
    Case("inference_identities", (4, 4, 3), lambda x: L.ActivityRegularization(0.1)(L.AlphaDropout(0.2)(
        L.GaussianDropout(0.2)(L.GaussianNoise(0.5)(L.Conv2D(2, 1)(x)))))),
    Case("prelu_map", (4, 4, 3), lambda x: L.PReLU(shared_axes=[1, 2])(L.Conv2D(3, 1)(x)), same_params=False),
    Case("prelu_vector", (5,), lambda x: L.PReLU()(x), same_params=False),
    *[Case(f"spatial_dropout{n}d", shape, lambda x, c=cls: c(0.2)(x))
      for n, cls, shape in ((1, L.SpatialDropout1D, (6, 3)), (2, L.SpatialDropout2D, (4, 4, 3)),
                            (3, L.SpatialDropout3D, (3, 3, 3, 2)))],
    Case("flatten_output", (3, 4, 2), lambda x: L.Flatten()(L.Conv2D(2, 1)(x))),
    Case("flatten_reshape_back", (3, 4, 2), lambda x: L.Conv2D(2, 1)(L.Reshape((3, 4, 2))(L.Flatten()(x)))),
    Case("flatten_relu_reshape_back", (3, 4, 2),
         lambda x: L.Conv2D(2, 1)(L.Reshape((3, 4, 2))(L.ReLU()(L.Flatten()(x)))), transposes=1),
    Case("reshape_vector", (12,), lambda x: L.Dense(2)(L.Reshape((3, 4))(x))),
    # a real reshape of a channels-last map into a sequence needs Keras's element order
    Case("reshape_map_to_sequence", (4, 4, 3), lambda x: L.LSTM(3)(L.Reshape((16, 3))(L.Conv2D(3, 1)(x))), transposes=1,
         same_params=False),
    Case("reshape_se", (3,), lambda x: L.Conv2D(2, 1)(L.Reshape((1, 1, 3))(x))),
    Case("permute_free", (4, 5, 3), lambda x: L.Conv2D(2, 1, data_format="channels_first")(L.Permute((3, 1, 2))(x))),
    Case("permute_sequence", (6, 3), lambda x: L.Permute((2, 1))(x)),
    Case("identity", (5,), lambda x: L.Identity()(x)),
    Case("rescaling", (4, 4, 3), lambda x: L.Rescaling(1 / 127.5, offset=-1.0)(x), same_params=True),
    Case("normalization", (4, 4, 3), lambda x: L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 4.0, 0.25])(x),
         same_params=False),
    Case("normalization_invert", (5,), lambda x: L.Normalization(mean=0.5, variance=2.0, invert=True)(x),
         same_params=False),
    Case("nested_model", (6, 6, 3), _nested),
    Case("time_distributed", (5, 3), lambda x: L.TimeDistributed(L.Dense(4, activation="relu"))(x)),
    # ------------------------------------------------ recurrent (netspec keeps both biases: same_params off)
    Case("lstm", (5, 3), lambda x: L.LSTM(4, return_sequences=True)(x), same_params=False),
    Case("lstm_dynamic_length", (None, 3), lambda x: L.LSTM(4, return_sequences=True)(x), same_params=False),
    Case("lstm_last", (5, 3), lambda x: L.LSTM(4, use_bias=False)(x), same_params=False),
    Case("gru_reset_after", (5, 3), lambda x: L.GRU(4, return_sequences=True)(x)),
    Case("gru_reset_before", (5, 3), lambda x: L.GRU(4, reset_after=False)(x), same_params=False),
    Case("simple_rnn", (5, 3), lambda x: L.SimpleRNN(4, return_sequences=True)(x), same_params=False),
    Case("simple_rnn_relu", (5, 3), lambda x: L.SimpleRNN(4, activation="relu")(x), same_params=False),
    Case("rnn_lstm_cell", (5, 3), lambda x: L.RNN(L.LSTMCell(4))(x), same_params=False),
    Case("rnn_gru_cell", (5, 3), lambda x: L.RNN(L.GRUCell(4), return_sequences=True)(x)),
    Case("rnn_simple_cell", (5, 3), lambda x: L.RNN(L.SimpleRNNCell(4))(x), same_params=False),
    Case("rnn_peephole", (5, 3), lambda x: L.RNN(NL.PeepholeLSTMCell(4), return_sequences=True)(x)),
    Case("conv1d_into_lstm", (8, 3), lambda x: L.LSTM(3)(L.Conv1D(4, 3)(x)), transposes=1, same_params=False),
    # ------------------------------------------------ keras.ops arithmetic in functional models
    Case("ops_hard_sigmoid", (4, 4, 3), lambda x: L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)),
    Case("ops_binary", (4, 4, 3), lambda x: keras.ops.maximum((2.0 - x) / 3 - x ** 2, keras.ops.minimum(x, 0.5))),
    Case("ops_divide", (5,), lambda x: keras.ops.divide(x, 4.0)),
    Case("ops_tensors", (4, 4, 3), lambda x: keras.ops.add(x, L.Conv2D(3, 1)(x)) * keras.ops.subtract(x, x)),
    Case("ops_unary", (5,), lambda x: keras.ops.tanh(keras.ops.relu(keras.ops.sigmoid(-x)))
         + keras.ops.exp(keras.ops.sqrt(keras.ops.abs(x)))),
    Case("layer_scale_map", (4, 4, 3), lambda x: LayerScale(0.5, 3)(L.Conv2D(3, 1)(x))),
    Case("layer_scale_vector", (3,), lambda x: LayerScale(0.5, 3)(x), same_params=False),
    # ------------------------------------------------ netspec's own Keras layers
    Case("netspec_pad_reflect", (5, 5, 3), lambda x: NL.Pad([(1, 2), (2, 1)], "reflect")(x)),
    Case("netspec_pad_replicate", (5, 3), lambda x: NL.Pad([(2, 1)], "replicate")(x)),
    Case("netspec_padded_avgpool", (7, 7, 3), lambda x: NL.PaddedAvgPool((3, 3), (2, 2), [(1, 1), (1, 1)], True, (1, 1))(x)),
    Case("netspec_subsample", (9, 9, 3), lambda x: NL.Subsample((2, 2))(L.Conv2D(4, 3, dilation_rate=2)(x))),
    Case("netspec_subsample_alone", (9, 9, 3), lambda x: NL.Subsample((2, 3))(x)),
    Case("netspec_grouped_conv_transpose", (4, 4, 4),
         lambda x: NL.GroupedConvTranspose(6, (3, 3), (2, 2), (1, 1), 2, output_padding=(1, 1))(x)),
    Case("netspec_locally_connected2d", (6, 5, 3), lambda x: NL.LocallyConnected(4, (3, 2), (2, 1))(x)),
    Case("netspec_locally_connected_padded", (5, 5, 2),
         lambda x: NL.LocallyConnected(3, (3, 3), (1, 1))(L.ZeroPadding2D(1)(x))),
    Case("netspec_locally_connected1d", (7, 3), lambda x: NL.LocallyConnected(2, (3,), (2,), use_bias=False)(x)),
    Case("netspec_lrn", (4, 4, 7), lambda x: NL.LRN(5, 1e-2, 0.75, 2.0)(x)),
    Case("netspec_zero_upsample", (3, 4, 2), lambda x: NL.ZeroUpsample((2, 3))(x)),
    Case("netspec_aligned_bilinear", (3, 4, 2), lambda x: NL.AlignedBilinear((2, 2))(x)),
    Case("netspec_gelu_tanh", (6,), lambda x: NL.Gelu(approximate=True)(x)),
    Case("netspec_lowlevel_constant", (5,), _lowlevel, same_params=False),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_layer_imports_and_matches(case):
    model = case.model()
    inputs = keras_inputs(model, ids=case.ids)
    graph, _ = assert_matches(model, inputs=inputs)
    assert transposes(graph) == case.transposes, [n.name for n in graph.nodes() if n.op == "transpose"]
    if case.same_params:
        assert keras_count(graph) == model.count_params()


def test_every_table_entry_has_a_case():
    covered = set()
    for case in CASES:
        model = case.model()
        stack = list(model.operations)
        while stack:
            layer = stack.pop()
            covered.add(class_key(layer))
            stack.extend(getattr(layer, "operations", layer.layers) if isinstance(layer, keras.Model) else [])
            if hasattr(layer, "cell"):
                covered.add(class_key(layer.cell))
    assert set(TABLE.names()) - covered == set()


def test_recurrent_bias_lands_in_bias_ih():
    """Keras's single LSTM bias is netspec's bias_ih; bias_hh is zero (the same function)."""
    model = CASES[[c.id for c in CASES].index("lstm")].model()
    from netspec.converters.keras import from_keras

    graph = from_keras(model)
    lstm = next(n for n in graph.nodes() if n.op == "lstm")
    np.testing.assert_array_equal(lstm.params["bias_ih"], np.asarray(model.layers[1].cell.bias))
    assert not lstm.params["bias_hh"].any()


def test_batchnorm_momentum_is_one_minus_keras():
    model = Case("bn", (4,), lambda x: L.BatchNormalization(momentum=0.9)(x)).model()
    from netspec.converters.keras import from_keras

    node = next(n for n in from_keras(model).nodes() if n.op == "batchnorm")
    assert node.attrs["momentum"] == 0.1


def test_shared_layer_gets_one_node_per_call():
    """A layer called twice becomes two nodes with the same weights (netspec graphs do not
    share parameters, so the graph counts them twice)."""
    shared = L.Dense(3, name="shared")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = randomize(keras.Model([a, b], L.Add()([shared(a), shared(b)])))
    from netspec.converters.keras import from_keras

    graph, _ = assert_matches(model, inputs=keras_inputs(model))
    assert [n.name for n in graph.nodes() if n.op == "dense"] == ["shared", "shared_2"]
    assert graph.param_count == 2 * model.count_params()


def test_multiple_outputs_keep_their_views():
    x = keras.Input((6, 6, 3))
    y = L.Conv2D(4, 3)(x)
    model = randomize(keras.Model(x, [y, L.Flatten()(y), L.GlobalAveragePooling2D()(y), L.Permute((3, 1, 2))(y)]))
    graph, _ = assert_matches(model)
    # the Permute output is the conv node itself in another view: it needs its own node
    assert transposes(graph) == 1 and len(graph.outputs) == 4


def test_dynamic_sizes_import_where_netspec_can_express_them():
    x = keras.Input((None, None, 3))
    model = randomize(keras.Model(x, L.GlobalMaxPooling2D()(L.Conv2D(4, 3, padding="same")(x))))
    graph, _ = assert_matches(model)
    assert graph.node(graph.inputs[0]).type.shape == (None, 3, None, None)
    strided = keras.Model(x, L.Conv2D(4, 3, strides=2, padding="same")(x))
    from netspec.converters.keras import from_keras
    from netspec.errors import NetspecError

    with pytest.raises(NetspecError, match="static input size") as info:
        from_keras(strided)
    assert "keras.Input(shape=" in info.value.hint


def test_layer_names_become_node_names():
    from netspec.converters.keras import from_keras

    x = keras.Input((4,), name="in-put")
    y = L.Dense(3, name="block-1-dense")(x)
    y = L.Dense(2, activation="relu", name="head:out")(y)
    graph = from_keras(keras.Model(x, y, name="my model"))
    assert graph.name == "my_model"
    assert [n.name for n in graph.nodes()] == ["in.put", "block.1.dense", "head_out", "head_out_relu"]
