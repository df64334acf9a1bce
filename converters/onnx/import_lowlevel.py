"""Tensor forms of ops whose usual (shape or weight) form has a high-level import."""
from __future__ import annotations


def _refuse(what):
    def importer(ctx, node, *args):
        raise ctx.error(f"{what}, which netspec cannot import yet")
    return importer


import_cast_tensor = _refuse("casts a tensor to another dtype")
import_slice_tensor = _refuse("slices a tensor other than by cropping spatial axes")
import_matmul_tensors = _refuse("multiplies two computed tensors")
import_gather_tensor = _refuse("gathers from a computed tensor")
import_reduce = _refuse("reduces axes other than all spatial ones")
