"""Custom Keras layers for ops Keras 3 has no native layer for, written with ``keras.ops``.

Every layer is registered under the ``netspec`` package name so ``keras.models.load_model``
finds it again without ``custom_objects``; every layer keeps its whole behaviour in
``get_config`` (plain ints, floats and strings), and its weights in Keras variables.
All spatial layers take channels-last tensors ``(N, *spatial, C)``.
"""
from __future__ import annotations

import math

import keras
from keras import ops

register = keras.saving.register_keras_serializable(package="netspec")


def _pairs(value):
    return tuple(tuple(int(v) for v in p) for p in value)


@register
class Pad(keras.layers.Layer):
    """Pads the spatial axes: ``constant`` (any value), ``reflect`` (PyTorch's: the edge is
    not repeated) or ``replicate`` (the edge repeated).

    TensorFlow's ``pad`` has no edge mode, so replicate is built from repeated edge slices.
    ``pads`` holds one ``(begin, end)`` pair per spatial axis.
    """

    def __init__(self, pads, mode="constant", value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.pads, self.mode, self.value = _pairs(pads), mode, float(value)

    def call(self, x):
        if self.mode == "replicate":
            for axis, (begin, end) in enumerate(self.pads, start=1):
                size = ops.shape(x)[axis]
                parts = []
                if begin:
                    parts.append(ops.repeat(ops.take(x, [0], axis=axis), begin, axis=axis))
                parts.append(x)
                if end:
                    parts.append(ops.repeat(ops.take(x, ops.convert_to_tensor([size - 1]), axis=axis),
                                            end, axis=axis))
                x = ops.concatenate(parts, axis=axis) if len(parts) > 1 else x
            return x
        widths = [(0, 0), *self.pads, (0, 0)]
        if self.mode == "reflect":
            return ops.pad(x, widths, mode="reflect")
        return ops.pad(x, widths, mode="constant", constant_values=self.value)

    def compute_output_shape(self, shape):
        sizes = [None if n is None else n + b + e for n, (b, e) in zip(shape[1:-1], self.pads)]
        return (shape[0], *sizes, shape[-1])

    def get_config(self):
        return {**super().get_config(), "pads": [list(p) for p in self.pads], "mode": self.mode,
                "value": self.value}


@register
class PaddedAvgPool(keras.layers.Layer):
    """Average pooling with explicit (possibly asymmetric) padding and PyTorch's divisor rules.

    The sum over each window is divided by the number of counted positions: real inputs,
    plus the explicit padding when ``count_include_pad``; positions added only to round the
    output size up (``ceil_extra``, PyTorch's ceil_mode) never count. Both sums are one
    average pool each, of the zero-padded input and of a padded mask.
    """

    def __init__(self, kernel, stride, pads, count_include_pad=False, ceil_extra=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.pads = _pairs(pads)
        self.count_include_pad = bool(count_include_pad)
        self.ceil_extra = tuple(ceil_extra or (0,) * len(self.kernel))

    def _pool(self, x):
        return ops.average_pool(x, self.kernel, self.stride, padding="valid",
                                data_format="channels_last")

    def call(self, x):
        full = [(0, 0), *[(b, e + c) for (b, e), c in zip(self.pads, self.ceil_extra)], (0, 0)]
        summed = self._pool(ops.pad(x, full))
        ones = ops.ones_like(x[:1, ..., :1])
        if self.count_include_pad:
            ones = ops.pad(ones, [(0, 0), *self.pads, (0, 0)], constant_values=1.0)
            mask = ops.pad(ones, [(0, 0), *[(0, c) for c in self.ceil_extra], (0, 0)])
        else:
            mask = ops.pad(ones, full)
        return summed / self._pool(mask)

    def compute_output_shape(self, shape):
        sizes = []
        for n, k, s, (b, e), c in zip(shape[1:-1], self.kernel, self.stride, self.pads, self.ceil_extra):
            sizes.append(None if n is None else (n + b + e + c - k) // s + 1)
        return (shape[0], *sizes, shape[-1])

    def get_config(self):
        return {**super().get_config(), "kernel": list(self.kernel), "stride": list(self.stride),
                "pads": [list(p) for p in self.pads], "count_include_pad": self.count_include_pad,
                "ceil_extra": list(self.ceil_extra)}


@register
class Subsample(keras.layers.Layer):
    """Keeps every ``stride``-th position of each spatial axis: TensorFlow refuses strided
    *and* dilated convolutions, so those run at stride 1 and are subsampled after."""

    def __init__(self, stride, **kwargs):
        super().__init__(**kwargs)
        self.stride = tuple(int(s) for s in stride)

    def call(self, x):
        index = (slice(None), *[slice(None, None, s) for s in self.stride], slice(None))
        return x[index]

    def compute_output_shape(self, shape):
        sizes = [None if n is None else -(-n // s) for n, s in zip(shape[1:-1], self.stride)]
        return (shape[0], *sizes, shape[-1])

    def get_config(self):
        return {**super().get_config(), "stride": list(self.stride)}


@register
class GroupedConvTranspose(keras.layers.Layer):
    """Transposed convolution with channel groups (Keras' ConvTranspose layers have none).

    ``kernel``: ``(*k, filters // groups, in_channels)`` — group g maps input channels
    ``g*I/G .. (g+1)*I/G`` to output channels ``g*O/G .. (g+1)*O/G``; padding 'valid'
    (explicit padding is cropped by the emitter).
    """

    def __init__(self, filters, kernel_size, strides, dilation_rate, groups, use_bias=True,
                 output_padding=None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.groups, self.use_bias = int(filters), int(groups), bool(use_bias)
        self.kernel_size, self.strides = tuple(kernel_size), tuple(strides)
        self.dilation_rate = tuple(dilation_rate)
        self.output_padding = tuple(output_padding) if output_padding else (0,) * len(self.kernel_size)

    def build(self, shape):
        cin = shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(*self.kernel_size, self.filters // self.groups, cin))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None

    def call(self, x):
        cin = x.shape[-1] // self.groups
        outs = []
        for g in range(self.groups):
            outs.append(ops.conv_transpose(
                x[..., g * cin:(g + 1) * cin], self.kernel[..., g * cin:(g + 1) * cin],
                strides=self.strides, padding="valid", output_padding=self.output_padding,
                dilation_rate=self.dilation_rate, data_format="channels_last"))
        y = ops.concatenate(outs, axis=-1)
        return y + self.bias if self.bias is not None else y

    def compute_output_shape(self, shape):
        sizes = [None if n is None else (n - 1) * s + d * (k - 1) + 1 + p
                 for n, k, s, d, p in zip(shape[1:-1], self.kernel_size, self.strides,
                                          self.dilation_rate, self.output_padding)]
        return (shape[0], *sizes, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "dilation_rate": list(self.dilation_rate),
                "groups": self.groups, "use_bias": self.use_bias,
                "output_padding": list(self.output_padding)}


@register
class LocallyConnected(keras.layers.Layer):
    """A convolution whose weights differ at every output position (1d or 2d; Keras 3
    dropped its LocallyConnected layers).

    ``kernel``: ``(P, K*C, F)`` with ``P`` output positions (row-major), ``K*C`` one patch
    flattened as (*kernel offsets, in channel); ``bias``: ``(*out_spatial, F)``. Patches are
    gathered as ``K`` strided slices, so no im2col matrix larger than the output is built.
    Padding is applied before this layer (ZeroPadding).
    """

    def __init__(self, filters, kernel_size, strides, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.use_bias = int(filters), bool(use_bias)
        self.kernel_size, self.strides = tuple(kernel_size), tuple(strides)

    def _out(self, shape):
        return tuple((n - k) // s + 1 for n, k, s in zip(shape[1:-1], self.kernel_size, self.strides))

    def build(self, shape):
        out = self._out(shape)
        patch = math.prod(self.kernel_size) * shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(math.prod(out), patch, self.filters))
        self.bias = (self.add_weight(name="bias", shape=(*out, self.filters), initializer="zeros")
                     if self.use_bias else None)

    def call(self, x):
        out = self._out(x.shape)
        slices = []
        for offset in _offsets(self.kernel_size):
            index = (slice(None), *[slice(o, o + s * (n - 1) + 1, s)
                                    for o, s, n in zip(offset, self.strides, out)], slice(None))
            slices.append(x[index])
        patches = ops.stack(slices, axis=-2)  # N, *out, K, C
        patches = ops.reshape(patches, (-1, math.prod(out), self.kernel.shape[1]))
        y = ops.einsum("npk,pkf->npf", patches, self.kernel)
        y = ops.reshape(y, (-1, *out, self.filters))
        return y + self.bias if self.bias is not None else y

    def compute_output_shape(self, shape):
        return (shape[0], *self._out(shape), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "use_bias": self.use_bias}


def _offsets(kernel):
    """Kernel offsets in row-major order (the order the patch axis is flattened in)."""
    grid = [()]
    for k in kernel:
        grid = [g + (i,) for g in grid for i in range(k)]
    return grid


@register
class LRN(keras.layers.Layer):
    """Local response normalisation across channels, PyTorch/ONNX convention:
    ``x / (bias + alpha / size * sum_{window} x^2) ** beta``; channel c's window spans
    ``c - size//2 .. c + (size-1)//2`` (zero outside)."""

    def __init__(self, size=5, alpha=1e-4, beta=0.75, bias=1.0, **kwargs):
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.bias = int(size), float(alpha), float(beta), float(bias)

    def call(self, x):
        sq = ops.square(x)
        rank = len(x.shape)
        padded = ops.pad(sq, [(0, 0)] * (rank - 1) + [(self.size // 2, (self.size - 1) // 2)])
        channels = ops.shape(x)[-1]
        total = padded[..., 0:channels]
        for i in range(1, self.size):
            total = total + padded[..., i:i + channels]
        return x / ops.power(self.bias + (self.alpha / self.size) * total, self.beta)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha, "beta": self.beta,
                "bias": self.bias}


class _Upsample(keras.layers.Layer):
    """What every channels-last up-sampling by integer ``scale`` per spatial axis shares:
    its config and its output shape."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = tuple(int(s) for s in scale)

    def compute_output_shape(self, shape):
        sizes = [None if n is None else n * s for n, s in zip(shape[1:-1], self.scale)]
        return (shape[0], *sizes, shape[-1])

    def get_config(self):
        return {**super().get_config(), "scale": list(self.scale)}


@register
class ZeroUpsample(_Upsample):
    """Zero-insertion up-sampling: input (i, j) lands at (i*s, j*s), every other position is
    zero. Each axis gets a new size-``s`` axis padded with zeros, then merged into it."""

    def call(self, x):
        for axis, s in enumerate(self.scale, start=1):
            if s == 1:
                continue
            shape = ops.shape(x)
            y = ops.expand_dims(x, axis + 1)
            widths = [(0, 0)] * (len(x.shape) + 1)
            widths[axis + 1] = (0, s - 1)
            y = ops.pad(y, widths)
            target = [-1 if i == 0 else shape[i] for i in range(len(x.shape))]
            target[axis] = -1 if shape[axis] is None else shape[axis] * s
            if target[axis] == -1:
                target[0] = shape[0]
            x = ops.reshape(y, target)
        return x



@register
class AlignedBilinear(_Upsample):
    """Bilinear up-sampling with ``align_corners=True`` (PyTorch meaning: the corner pixels
    of input and output coincide, source = dst * (n - 1) / (m - 1)); TensorFlow's resize
    only offers half-pixel centres. Separable: one gather-and-lerp per spatial axis."""

    def call(self, x):
        for axis, s in enumerate(self.scale, start=1):
            n = ops.shape(x)[axis]
            m = n * s
            n_f = ops.cast(n, "float32")
            step = (n_f - 1.0) / ops.maximum(ops.cast(m, "float32") - 1.0, 1.0)
            src = ops.cast(ops.arange(m), "float32") * step
            lo = ops.minimum(ops.floor(src), n_f - 1.0)
            frac = src - lo
            lo_i = ops.cast(lo, "int32")
            hi_i = ops.minimum(lo_i + 1, ops.cast(n, "int32") - 1)
            a = ops.take(x, lo_i, axis=axis)
            b = ops.take(x, hi_i, axis=axis)
            shape = [1] * len(x.shape)
            shape[axis] = -1
            x = a + (b - a) * ops.cast(ops.reshape(frac, shape), x.dtype)
        return x



@register
class Gelu(keras.layers.Layer):
    """GELU with the approximation kept in the config (``Activation('gelu')`` would lose it)."""

    def __init__(self, approximate=False, **kwargs):
        super().__init__(**kwargs)
        self.approximate = bool(approximate)

    def call(self, x):
        return keras.activations.gelu(x, approximate=self.approximate)

    def get_config(self):
        return {**super().get_config(), "approximate": self.approximate}


@register
class LayerNorm(keras.layers.Layer):
    """Layer normalisation over any set of axes (a channels-first map normalised over
    C, H but not W is held with non-trailing axes). Weights as Keras' LayerNormalization:
    ``gamma``/``beta`` shaped like the normalised axes in increasing order."""

    def __init__(self, axes, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.axes, self.epsilon = [int(a) for a in axes], float(epsilon)

    def build(self, shape):
        param = tuple(shape[a] for a in self.axes)
        self.gamma = self.add_weight(name="gamma", shape=param, initializer="ones")
        self.beta = self.add_weight(name="beta", shape=param, initializer="zeros")

    def call(self, x):
        mean, var = ops.moments(x, axes=self.axes, keepdims=True)
        shape = [x.shape[i] if i in self.axes else 1 for i in range(len(x.shape))]
        scale = ops.reshape(self.gamma, shape) * ops.rsqrt(var + self.epsilon)
        return (x - mean) * scale + ops.reshape(self.beta, shape)

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "epsilon": self.epsilon}


@register
class TorchBatchNorm(keras.layers.BatchNormalization):
    """BatchNormalization whose moving variance is updated with the *unbiased* batch
    variance, as PyTorch's running_var is (Keras uses the biased one); normalisation itself
    uses the biased variance in both. Inference is the parent's, unchanged."""

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, "float32")
        axes = [i for i in range(len(x.shape)) if i != self.axis % len(x.shape)]
        mean, variance = ops.moments(x, axes=axes)
        count = ops.cast(ops.prod(ops.take(ops.shape(x), axes)), "float32") if any(
            x.shape[i] is None for i in axes) else float(math.prod(x.shape[i] for i in axes))
        unbiased = variance * count / ops.maximum(count - 1.0, 1.0)
        m = self.momentum
        self.moving_mean.assign(ops.cast(self.moving_mean, "float32") * m + mean * (1.0 - m))
        self.moving_variance.assign(ops.cast(self.moving_variance, "float32") * m + unbiased * (1.0 - m))
        y = ops.batch_normalization(x, mean, variance, axis=self.axis, offset=self.beta,
                                    scale=self.gamma, epsilon=self.epsilon)
        return ops.cast(y, self.compute_dtype)


@register
class PeepholeLSTMCell(keras.layers.Layer):
    """LSTM cell with diagonal peephole connections (Gers & Schmidhuber 2000), for
    ``keras.layers.RNN``.

    Gate order i, f, c, o (Keras's, which is PyTorch's i, f, g, o): i and f see c_{t-1},
    o sees c_t. Weights: ``kernel (F, 4H)``, ``recurrent_kernel (H, 4H)``, ``bias (2, 4H)``
    (input and recurrent biases kept apart, as PyTorch and ONNX do, so parameter counts and
    read-back weights match the graph exactly), ``peephole (3, H)`` for i, f, o.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def build(self, shape):
        h = self.units
        self.kernel = self.add_weight(name="kernel", shape=(shape[-1], 4 * h))
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel", shape=(h, 4 * h))
        self.bias = self.add_weight(name="bias", shape=(2, 4 * h), initializer="zeros")
        self.peephole = self.add_weight(name="peephole", shape=(3, h))

    def call(self, x, states, training=False):
        h_prev, c_prev = states
        z = ops.matmul(x, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias[0] + self.bias[1]
        zi, zf, zg, zo = ops.split(z, 4, axis=-1)
        i = ops.sigmoid(zi + self.peephole[0] * c_prev)
        f = ops.sigmoid(zf + self.peephole[1] * c_prev)
        c = f * c_prev + i * ops.tanh(zg)
        o = ops.sigmoid(zo + self.peephole[2] * c)
        h = o * ops.tanh(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units}
