"""The few layers torch lacks, as plain ``nn.Module`` classes.

This file imports nothing but torch on purpose: the ``.py`` export copies these classes'
source verbatim into the generated model file, which must run without netspec installed.
Every parameter is stored in netspec's canonical layout (the state dict equals the graph's
arrays); any rearrangement for speed is a free view inside ``forward``.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class PeepholeLSTMExport(torch.autograd.Function):
    """How :class:`PeepholeLSTM` appears in ``torch.onnx.export`` (TorchScript exporter).

    The layer has no torch kernel, so its forward is a loop over time steps; traced as is,
    the export would be that loop unrolled at the example's length (hundreds of nodes,
    valid for one sequence length only). ONNX has the layer itself, ``LSTM`` with its ``P``
    input, so during export the module routes through this Function, whose ``symbolic``
    writes that one node with the gates reordered from PyTorch's i, f, g, o to ONNX's
    i, o, f, c (peepholes i, f, o to i, o, f). The reordering is ``Gather`` on the
    parameters, which constant folding (the exporter's or an importer's) turns into plain
    initializers. Forward is the module's own recurrence.
    """

    @staticmethod
    def forward(ctx, x, weight_ih, weight_hh, bias_ih, bias_hh, peephole, module):
        return module.recurrence(x)

    @staticmethod
    def symbolic(g, x, weight_ih, weight_hh, bias_ih, bias_hh, peephole, module):
        def ints(values):
            return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))

        def missing():  # an omitted optional input
            value = g.op("prim::Constant")
            value.setType(torch._C.OptionalType.ofTensor())
            return value

        def unsqueeze0(value):  # axes became an input in opset 13
            return g.op("Unsqueeze", value, ints([0])) if g.opset >= 13 else g.op("Unsqueeze", value, axes_i=[0])

        def squeeze(value, axis):
            return g.op("Squeeze", value, ints([axis])) if g.opset >= 13 else g.op("Squeeze", value, axes_i=[axis])

        h = module.hidden_size
        i, f, c, o = (list(range(k * h, (k + 1) * h)) for k in range(4))
        order = ints(i + o + f + c)

        def rows(weight):
            return g.op("Gather", weight, order, axis_i=0)

        bias = unsqueeze0(g.op("Concat", rows(bias_ih), rows(bias_hh), axis_i=0))
        peep = g.op("Reshape", g.op("Gather", peephole, ints([0, 2, 1]), axis_i=0), ints([1, 3 * h]))
        y, y_h, _ = g.op("LSTM", g.op("Transpose", x, perm_i=[1, 0, 2]), unsqueeze0(rows(weight_ih)),
                         unsqueeze0(rows(weight_hh)), bias, missing(), missing(), missing(), peep,
                         hidden_size_i=h, outputs=3)
        if module.return_sequences:  # Y: (T, 1, N, H) -> (N, T, H)
            return g.op("Transpose", squeeze(y, 1), perm_i=[1, 0, 2])
        return squeeze(y_h, 0)  # Y_h: (1, N, H) -> (N, H)


class PeepholeLSTM(nn.Module):
    """LSTM with diagonal peephole connections (Gers & Schmidhuber 2000), batch-first.

    Shapes: input ``(N, T, F)``; output ``(N, T, H)`` or ``(N, H)`` (last step).
    Parameters: ``weight_ih [4H, F]``, ``weight_hh [4H, H]``, ``bias_ih/bias_hh [4H]`` with
    gates i, f, g, o (PyTorch's order) and ``peephole [3, H]`` for i, f, o: i and f see
    c_{t-1}, o sees c_t. cuDNN has no peephole kernel, so the input projection of all steps
    runs as one matmul and only the recurrence loops; the class is TorchScript-compatible
    (``torch.jit.script``) and traces cleanly under ``torch.compile``/``torch.export``.
    """

    SOURCE_NEEDS = ("PeepholeLSTMExport",)  # what the standalone .py export must include too

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True):
        super().__init__()
        self.hidden_size = hidden_size
        self.return_sequences = return_sequences
        h = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * h, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * h, h))
        self.bias_ih = nn.Parameter(torch.empty(4 * h))
        self.bias_hh = nn.Parameter(torch.empty(4 * h))
        self.peephole = nn.Parameter(torch.empty(3, h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # TorchScript compiles only the recurrence
            if torch.onnx.is_in_onnx_export():
                return self._for_onnx(x)
        return self.recurrence(x)

    @torch.jit.unused
    def _for_onnx(self, x: torch.Tensor) -> torch.Tensor:
        """One ONNX ``LSTM`` node with peepholes instead of the unrolled loop."""
        return PeepholeLSTMExport.apply(x, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                                        self.peephole, self)

    def recurrence(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.hidden_size)
        c = x.new_zeros(x.shape[0], self.hidden_size)
        projected = F.linear(x, self.weight_ih, self.bias_ih + self.bias_hh)  # (N, T, 4H)
        w_hh = self.weight_hh.t()
        p_i, p_f, p_o = self.peephole[0], self.peephole[1], self.peephole[2]
        steps: List[torch.Tensor] = []
        for xt in projected.unbind(1):
            i, f, g, o = torch.addmm(xt, h, w_hh).chunk(4, 1)  # one kernel, no temporary
            i = torch.sigmoid(i + p_i * c)
            f = torch.sigmoid(f + p_f * c)
            c = f * c + i * torch.tanh(g)
            h = torch.sigmoid(o + p_o * c) * torch.tanh(c)
            steps.append(h)
        if self.return_sequences:
            return torch.stack(steps, 1)
        return h


class ResetBeforeGRU(nn.Module):
    """GRU with the reset gate applied *before* the recurrent matmul, batch-first.

    ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``: the original (Cho et al.) form, Keras's
    ``reset_after=False`` and ONNX's default ``linear_before_reset=0``. ``nn.GRU`` (and cuDNN)
    only implement reset-after, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, which is
    what netspec emits natively when ``linear_before_reset`` is true. Gates r, z, n;
    ``h' = (1 - z) * n + z * h``.
    """

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True):
        super().__init__()
        self.hidden_size = hidden_size
        self.return_sequences = return_sequences
        h = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * h, input_size))
        self.weight_hh = nn.Parameter(torch.empty(3 * h, h))
        self.bias_ih = nn.Parameter(torch.empty(3 * h))
        self.bias_hh = nn.Parameter(torch.empty(3 * h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hs = self.hidden_size
        h = x.new_zeros(x.shape[0], hs)
        projected = F.linear(x, self.weight_ih, self.bias_ih)  # (N, T, 3H)
        w_rz, b_rz = self.weight_hh[: 2 * hs], self.bias_hh[: 2 * hs]
        w_n, b_n = self.weight_hh[2 * hs:], self.bias_hh[2 * hs:]
        steps: List[torch.Tensor] = []
        for xt in projected.unbind(1):
            x_r, x_z, x_n = xt.chunk(3, 1)
            h_r, h_z = F.linear(h, w_rz, b_rz).chunk(2, 1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + F.linear(r * h, w_n, b_n))
            h = (1 - z) * n + z * h
            steps.append(h)
        if self.return_sequences:
            return torch.stack(steps, 1)
        return h


class LocallyConnectedExport(torch.autograd.Function):
    """How :class:`LocallyConnected` appears in ``torch.onnx.export``: the composition
    netspec's ONNX backend writes (a fixed one-hot depthwise ``Conv`` extracts the patches,
    one batched ``MatMul`` applies each position's matrix), which importers recognise as one
    locally connected layer, instead of the exporter's Einsum/Range rendering of unfold."""

    @staticmethod
    def forward(ctx, x, weight, bias, module):
        return module.unshared(x)

    @staticmethod
    def symbolic(g, x, weight, bias, module):
        def ints(values):
            return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))

        kernel, cin, out = module.kernel, module.in_channels, module.out_size
        k = positions = 1
        for size in kernel:
            k *= size
        for size in out:
            positions *= size
        filters = module.weight.shape[len(out)]
        one_hot = torch.zeros(cin * k, 1, *kernel)
        for c in range(cin):  # channel c * K + tap holds tap ``tap`` of input channel c
            for tap in range(k):
                where, rest = [], tap
                for size in reversed(kernel):  # row-major position of the tap in the kernel
                    where.insert(0, rest % size)
                    rest //= size
                one_hot[(c * k + tap, 0, *where)] = 1.0
        patches = g.op("Conv", x, g.op("Constant", value_t=one_hot), kernel_shape_i=list(kernel),
                       strides_i=list(module.stride), pads_i=list(module.onnx_pads), group_i=cin)
        # -1, not ONNX's 0 ("copy"), for the batch: torch's export shape inference rejects 0s
        rows = g.op("Transpose", g.op("Reshape", patches, ints([-1, cin * k, positions])), perm_i=[2, 0, 1])
        per_position = g.op("Transpose", g.op("Reshape", weight, ints([positions, filters, cin * k])), perm_i=[0, 2, 1])
        y = g.op("Reshape", g.op("Transpose", g.op("MatMul", rows, per_position), perm_i=[1, 2, 0]),
                 ints([-1, filters, *out]))
        return y if bias is None else g.op("Add", y, bias)


class LocallyConnected(nn.Module):
    """Convolution with unshared weights (1d or 2d), vectorised as unfold + one batched matmul.

    Shapes: input ``(N, C, *in_spatial)``, output ``(N, filters, *out_spatial)``.
    Parameters (canonical): ``weight [*out_spatial, filters, C, *kernel]``,
    ``bias [filters, *out_spatial]``. ``padding`` is one (begin, end) pair per axis.
    """

    def __init__(self, in_channels: int, filters: int, kernel: Tuple[int, ...],
                 stride: Tuple[int, ...], padding: Tuple[Tuple[int, int], ...],
                 out_size: Tuple[int, ...], bias: bool = True):
        super().__init__()
        self.kernel, self.stride, self.out_size = tuple(kernel), tuple(stride), tuple(out_size)
        self.in_channels = in_channels
        self.onnx_pads = tuple(b for b, _ in padding) + tuple(e for _, e in padding)
        # F.pad wants the last axis first
        self.pads = tuple(p for pair in reversed(padding) for p in pair)
        self.weight = nn.Parameter(torch.empty(*out_size, filters, in_channels, *kernel))
        self.bias = nn.Parameter(torch.empty(filters, *out_size)) if bias else None

    SOURCE_NEEDS = ("LocallyConnectedExport",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():
            if torch.onnx.is_in_onnx_export():
                return self._for_onnx(x)
        return self.unshared(x)

    @torch.jit.unused
    def _for_onnx(self, x: torch.Tensor) -> torch.Tensor:
        return LocallyConnectedExport.apply(x, self.weight, self.bias, self)

    def unshared(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.pads):
            x = F.pad(x, self.pads)
        kernel, stride = self.kernel, self.stride
        if len(kernel) == 1:  # 1d runs as 2d with a height of 1
            x, kernel, stride = x.unsqueeze(2), (1, *kernel), (1, *stride)
        cols = F.unfold(x, kernel, stride=stride)  # (N, C*K, L), channel-major like the weight
        positions = cols.shape[-1]
        filters = self.weight.shape[len(self.out_size)]
        weight = self.weight.reshape(positions, filters, -1)  # (L, filters, C*K)
        out = torch.einsum("nkl,lfk->nfl", cols, weight).reshape(x.shape[0], filters, *self.out_size)
        if self.bias is not None:
            out = out + self.bias
        return out


class ZeroUpsample(nn.Module):
    """Zero-insertion up-sampling: ``out[..., i*s] = x[..., i]``, zeros elsewhere.

    Each axis gains a trailing axis of size 1 that is zero-padded to ``s`` and folded back,
    so the op is one pad and two reshapes (no scatter, differentiable, exportable).
    """

    def __init__(self, scale: Tuple[int, ...]):
        super().__init__()
        self.scale = tuple(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, *sizes = x.shape
        expanded = [n, c]
        for size in sizes:
            expanded += [size, 1]
        pads: List[int] = []
        for s in reversed(self.scale):  # F.pad lists the last axis first
            pads += [0, s - 1, 0, 0]
        out = F.pad(x.reshape(expanded), pads)
        return out.reshape(n, c, *[size * s for size, s in zip(sizes, self.scale)])


class Constant(nn.Module):
    """A constant tensor (``value``, batch axis of size 1) that consumers broadcast."""

    def __init__(self, shape: Tuple[int, ...]):
        super().__init__()
        self.register_buffer("value", torch.zeros(tuple(shape)))

    def forward(self) -> torch.Tensor:
        return self.value
