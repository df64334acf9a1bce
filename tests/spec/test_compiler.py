"""Each language feature, checked through node names, wiring and inferred shapes."""
import pytest

from netspec.spec.compiler import MAX_REPEAT


def shapes(graph):
    return {n.name: n.type.shape[1:] for n in graph.nodes()}


def wiring(graph):
    return {n.name: n.inputs for n in graph.layers()}


def test_chain_with_automatic_names(spec):
    g = spec.graph("""
        inputs: {image: [3, 32, 32]}
        layers:
          - conv: {filters: 8, kernel: 3}
          - relu
          - conv: {filters: 16, kernel: 3, stride: 2}
          - relu
          - flatten
          - dense: 10
        """)
    assert wiring(g) == {"conv": ["image"], "relu": ["conv"], "conv_1": ["relu"], "relu_1": ["conv_1"],
                         "flatten": ["relu_1"], "dense": ["flatten"]}
    assert shapes(g)["conv_1"] == (16, 14, 14) and g.outputs == ["dense"]
    assert g.name == "main" and g.node("conv").loc.line == 4


def test_named_layers_and_residual_add(spec):
    g = spec.graph("""
        inputs: {x: [8, 16, 16]}
        layers:
          - conv: {name: a, filters: 8, kernel: 3, padding: 1}
          - relu
          - conv: {name: b, filters: 8, kernel: 3, padding: 1}
          - add: {from: [b, x]}
          - relu: {name: out}
        """)
    assert wiring(g)["add"] == ["b", "x"] and g.outputs == ["out"]


def test_dense_concat_and_entry_level_meta(spec):
    g = spec.graph("""
        inputs: {x: [4, 8, 8]}
        layers:
          - conv: {filters: 2, kernel: 1}
            name: c1
          - concat: {from: [x, c1]}
            name: cat1
          - conv: {name: c2, filters: 2, kernel: 1}
          - concat: {name: cat2, from: [cat1, c2]}
        """)
    assert shapes(g)["cat1"] == (6, 8, 8) and shapes(g)["cat2"] == (8, 8, 8)
    assert wiring(g)["cat2"] == ["cat1", "c2"]


def test_several_inputs_and_outputs(spec):
    g = spec.graph("""
        inputs:
          image: [3, 8, 8]
          extra: {shape: [5], layout: plain}
        outputs: [logits, features]
        layers:
          - globalavgpool: {from: image}
          - flatten: {name: features}
          - dense: {name: e, from: extra, units: 3}
          - concat: {from: [features, e], axis: 1}
          - dense: {name: logits, units: 2}
        """)
    assert g.inputs == ["image", "extra"] and g.outputs == ["logits", "features"]
    assert shapes(g)["concat"] == (6,)


def test_input_alias_is_the_first_input(spec):
    g = spec.graph("""
        inputs: {a: [3], b: [3]}
        layers:
          - add: {from: [input, b]}
        """)
    assert wiring(g)["add"] == ["a", "b"]


BLOCKS = """
blocks:
  unit:
    params: {filters: required, stride: 1, expand: "$filters * 2"}
    layers:
      - conv: {name: c, filters: $expand, kernel: 3, stride: $stride, padding: 1}
      - relu
"""


def test_block_params_required_defaults_and_derived(spec):
    g = spec.graph("""
        inputs: {x: [3, 8, 8]}
        """ + BLOCKS.replace("\n", "\n        ") + """
        layers:
          - unit: {filters: 4}
          - unit: {filters: 8, stride: 2, expand: 5}
          - unit: 3
        """)
    assert [n.name for n in g.layers()] == ["unit.c", "unit.relu", "unit_1.c", "unit_1.relu",
                                            "unit_2.c", "unit_2.relu"]
    assert shapes(g)["unit.c"] == (8, 8, 8) and shapes(g)["unit_1.c"] == (5, 4, 4)
    assert shapes(g)["unit_2.c"] == (6, 4, 4)


def test_defaults_see_params_given_after_them(spec):
    g = spec.graph("""
        inputs: {x: [3]}
        blocks:
          b:
            params: {width: "$units * 2", units: required}
            layers: [{dense: {units: $width}}]
        layers:
          - b: {units: 3}
        """)
    assert shapes(g)["b.dense"] == (6,)


def test_multi_input_block_with_output(spec):
    g = spec.graph("""
        inputs: {x: [4, 8, 8]}
        blocks:
          merge:
            inputs: [main, skip]
            output: joined
            layers:
              - conv: {filters: 4, kernel: 1}
              - add: {name: joined, from: [conv, skip]}
              - relu: {name: unused_tail}
        layers:
          - conv: {name: a, filters: 4, kernel: 1}
          - merge: {name: m, from: [a, x]}
          - relu
        """)
    assert wiring(g)["m.conv"] == ["a"] and wiring(g)["m.joined"] == ["m.conv", "x"]
    assert wiring(g)["relu"] == ["m.joined"]


def test_nested_blocks_and_repeat_with_index(spec):
    g = spec.graph("""
        inputs: {x: [4, 16, 16]}
        params: {base: 4}
        blocks:
          inner:
            params: {filters: required}
            layers: [{conv: {name: c, filters: $filters, kernel: 1}}]
          stage:
            params: {filters: required, n: 2}
            layers:
              - inner: {filters: "$filters * ($index + 1)", repeat: $n}
        layers:
          - stage: {name: s, filters: $base}
          - conv: {filters: 2, kernel: 1, repeat: 2}
        """)
    names = [n.name for n in g.layers()]
    assert names == ["s.inner.0.c", "s.inner.1.c", "conv.0", "conv.1"]
    assert shapes(g)["s.inner.1.c"] == (8, 16, 16)


def test_repeat_limits(spec):
    g = spec.graph(f"""
        inputs: {{x: [2]}}
        layers:
          - relu: {{repeat: {MAX_REPEAT}}}
          - dense: {{units: 2, repeat: 0, name: skipped}}
          - relu: {{from: skipped}}
        """)
    assert len(g) == MAX_REPEAT + 2
    assert wiring(g)["relu_1"] == [f"relu.{MAX_REPEAT - 1}"]


def test_when_skips_and_the_name_stands_for_the_input(spec):
    text = """
        inputs: {x: [4, 8, 8]}
        params: {project: false}
        layers:
          - conv: {name: body, filters: 8, kernel: 1}
          - conv: {name: proj, from: x, filters: 8, kernel: 1, when: $project}
          - batchnorm: {name: proj_bn, when: $project}
          - add: {from: [body, proj_bn]}
        """
    with pytest.raises(Exception):
        spec.graph(text)  # identity skip: 4 channels do not add to 8
    g = spec.graph(text, {"project": True})
    assert wiring(g)["add"] == ["body", "proj_bn"] and wiring(g)["proj_bn"] == ["proj"]
    g = spec.graph(text.replace("filters: 8, kernel: 1}", "filters: 4, kernel: 1}", 1))
    assert wiring(g)["add"] == ["body", "x"] and "proj" not in g


def test_when_in_a_block_resnet_style(spec):
    g = spec.graph("/tmp/t1.yaml" and open("/tmp/t1.yaml").read() if False else """
        inputs: {image: [3, 32, 32]}
        blocks:
          basic:
            params: {filters: required, stride: 1}
            layers:
              - conv: {filters: $filters, kernel: 3, stride: $stride, padding: 1}
              - batchnorm: {name: body}
              - conv: {name: proj, from: input, filters: $filters, kernel: 1, stride: $stride, when: "$stride > 1"}
              - add: {from: [body, proj]}
        layers:
          - conv: {filters: 8, kernel: 3, padding: 1}
          - basic: {filters: 8}
          - basic: {filters: 16, stride: 2}
        """)
    assert wiring(g)["basic.add"] == ["basic.body", "conv"]
    assert wiring(g)["basic_1.add"] == ["basic_1.body", "basic_1.proj"]
    assert shapes(g)["basic_1.add"] == (16, 16, 16)


def test_dotted_reference_into_a_block_instance(spec):
    g = spec.graph("""
        inputs: {x: [2, 16, 16]}
        blocks:
          down:
            layers:
              - conv: {name: features, filters: 4, kernel: 3, padding: 1}
              - maxpool: {kernel: 2}
        layers:
          - down: {name: enc}
          - down: {repeat: 2, name: deep}
          - upsample: {scale: 8}
          - concat: {from: [upsample, enc.features]}
          - relu: {from: deep.1.features}
        """)
    assert wiring(g)["concat"] == ["upsample", "enc.features"]
    assert wiring(g)["relu"] == ["deep.1.features"]


def test_unet_skips(spec):
    g = spec.graph("""
        inputs: {image: [1, null, null]}
        blocks:
          up:
            inputs: [input, skip]
            params: {filters: required}
            layers:
              - conv_transpose: {filters: $filters, kernel: 2, stride: 2}
              - concat: {from: [skip, conv_transpose]}
        layers:
          - conv: {name: e1, filters: 4, kernel: 3, padding: 1}
          - maxpool: {kernel: 2}
          - conv: {name: e2, filters: 8, kernel: 3, padding: 1}
          - up: {from: [e2, e1], filters: 4}
          - conv: {filters: 2, kernel: 1}
        """)
    assert shapes(g)["up.concat"] == (8, None, None) and shapes(g)["conv"] == (2, None, None)


def test_arithmetic_on_params_and_input_shapes(spec):
    g = spec.graph("""
        inputs: {image: [3, $size, $size]}
        params: {size: 64, width: 8, double: "$width * 2"}
        layers:
          - conv: {filters: $double, kernel: "$image[1] // 16", stride: "max(1, $size // 32)"}
          - reshape: {shape: [$double, -1]}
        """)
    assert shapes(g)["conv"] == (16, 31, 31) and shapes(g)["reshape"] == (16, 961)


def test_dynamic_dims_propagate(spec):
    g = spec.graph("""
        inputs: {seq: {shape: [null, 12], layout: plain}, image: [3, null, 32]}
        layers:
          - lstm: {units: 5}
          - conv: {from: image, filters: 4, kernel: 3, stride: 2}
          - globalavgpool
        """)
    assert shapes(g)["lstm"] == (None, 5) and shapes(g)["conv"] == (4, None, 15)
    assert shapes(g)["globalavgpool"][0] == 4


def test_scalar_shorthand_sets_the_first_attribute(spec):
    g = spec.graph("""
        inputs: {x: [10]}
        layers: [{dense: 4}, {dropout: 0.5}]
        """)
    assert g.node("dense").attrs["units"] == 4 and g.node("dropout").attrs["rate"] == 0.5


def test_include_relative_nested_and_diamond(spec):
    spec.write("lib/blocks.yaml", """
        include: [parts/core.yaml, parts/extra.yaml]
        blocks:
          pair:
            layers: [{core: {}}, {extra: {}}]
        """)
    spec.write("lib/parts/core.yaml", """
        include: base.yaml
        blocks: {core: {layers: [{base: {}}]}}
        """)
    spec.write("lib/parts/extra.yaml", "include: [base.yaml]\nblocks: {extra: {layers: [relu]}}\n")
    spec.write("lib/parts/base.yaml", "blocks: {base: {layers: [relu]}}\n")
    g = spec.graph("""
        inputs: {x: [3]}
        include: lib/blocks.yaml
        layers: [pair]
        """)
    assert [n.name for n in g.layers()] == ["pair.core.base.relu", "pair.extra.relu"]


def test_include_loop_is_reported(spec):
    spec.write("a.yaml", "include: [b.yaml]\nblocks: {}\n")
    spec.write("b.yaml", "include: [a.yaml]\n")
    errors = spec.errors("inputs: {x: [3]}\ninclude: [a.yaml]\nlayers: [relu]\n")
    assert errors == ["b.yaml:1:11: include loop: a.yaml -> b.yaml -> a.yaml "
                      "(hint: a file cannot include itself, directly or through others)"]


def test_overrides_and_typed_params(spec):
    text = """
        inputs: {x: [4]}
        params: {units: 3, act: relu, double: "$units * 2"}
        layers:
          - dense: $double
        """
    assert spec.graph(text, {"units": 5}).node("dense").type.shape == (None, 10)
    assert spec.errors(text, {"units": "many"})[0].endswith(
        "--set units='many': expected an int, like the default 3")
    assert "did you mean 'units'?" in spec.errors(text, {"unit": 2})[0]


def test_train_section_is_kept(spec):
    g = spec.graph("""
        inputs: {x: [4]}
        layers: [{dense: 2}]
        train:
          data: digits
          loss: cross_entropy
          optimizer: {adam: {lr: 1e-3}}
          epochs: 2
        """)
    assert g.meta["train"]["optimizer"] == {"adam": {"lr": 0.001}}


def test_weights_path_is_relative_to_the_spec(spec, tmp_path):
    g = load_meta = spec.graph("inputs: {x: [4]}\nweights: w.safetensors\nlayers: [{dense: 2}]\n")
    assert load_meta.meta["weights"] == str(tmp_path / "w.safetensors")
    assert g.meta["weights_loc"].line == 2


def test_errors_do_not_cascade(spec):
    """A failed layer is reported once: no 'names nothing' or shape error follows from it,
    while an unrelated shape error elsewhere is still found."""
    errors = spec.errors("""
        inputs: {x: [3, 8, 8], y: [5]}
        params: {bad: "$nope * 2", derived: "$bad + 1"}
        layers:
          - conv: {name: c, filters: 8, kernl: 3}
          - relu: {name: r}
          - add: {from: [c, r]}
          - dense: {from: y, units: $derived}
          - dense: {from: y, name: d1, units: 4}
          - dense: {from: y, name: d2, units: 5}
          - add: {from: [d1, d2]}
        """)
    assert len(errors) == 3, errors
    assert "unknown variable '$nope'" in errors[0]
    assert errors[1].endswith("unknown attribute 'kernl' for op 'conv' (hint: did you mean 'kernel'?)")
    assert "add needs inputs of the same shape" in errors[2]


def test_block_errors_are_reported_once(spec):
    errors = spec.errors("""
        inputs: {x: [3]}
        blocks:
          b: {layers: [{dense: {units: 3, bais: false}}]}
        layers: [b, b, b, {b: {repeat: 5}}]
        """)
    assert len(errors) == 1 and "unknown attribute 'bais'" in errors[0]


def test_unused_blocks_are_checked_for_typos(spec):
    errors = spec.errors("""
        inputs: {x: [3]}
        blocks:
          never: {params: {n: required}, layers: [{dense: {units: $n, bais: true}}, relux]}
        layers: [relu]
        """)
    assert [e.split(": ", 1)[1] for e in errors] == [
        "unknown attribute 'bais' for op 'dense' (hint: did you mean 'bias'?)",
        "unknown op or block 'relux' (hint: did you mean 'relu'?)"]


def test_skipped_layers_still_have_their_keys_checked(spec):
    errors = spec.errors("""
        inputs: {x: [3]}
        layers:
          - dense: {units: 2, activaton: relu, when: false}
        """)
    assert "unknown attribute 'activaton'" in errors[0]


def test_failed_block_instance_silences_dotted_references(spec):
    errors = spec.errors("""
        inputs: {x: [4]}
        blocks:
          b: {params: {k: "$missing"}, layers: [{dense: {name: fc, units: $k}}]}
        layers:
          - b: {name: first}
          - b: {name: rep, repeat: 2}
          - relu: {from: [first.fc]}
          - relu: {from: rep.1.fc}
        """)
    assert len(errors) == 1 and "unknown variable '$missing'" in errors[0]


def test_node_limit_stops_at_once(spec, monkeypatch):
    from netspec.spec import compiler
    monkeypatch.setattr(compiler, "MAX_NODES", 1000)
    errors = spec.errors("""
        inputs: {x: [4]}
        blocks:
          wide: {layers: [{relu: {repeat: 10000}}]}
        layers:
          - wide: {repeat: 10000}
        """)
    assert len(errors) == 1 and "expands to more than 1,000 layers" in errors[0]


def test_block_nesting_limit(spec):
    from netspec.spec.compiler import MAX_BLOCK_DEPTH
    depth = MAX_BLOCK_DEPTH + 3
    blocks = "".join(f"  b{i}: {{layers: [b{i + 1}]}}\n" for i in range(depth)) + f"  b{depth}: {{layers: [relu]}}\n"
    errors = spec.errors("inputs: {x: [4]}\nblocks:\n" + blocks + "layers: [b0]\n")
    assert len(errors) == 1 and f"nested more than {MAX_BLOCK_DEPTH} deep" in errors[0]


def test_names_are_deterministic(spec):
    text = """
        inputs: {x: [4]}
        blocks: {u: {layers: [{dense: 4}, relu, {dense: 4}]}}
        layers: [u, {u: {repeat: 2}}, relu, {dense: 2, name: head}]
        """
    first = [n.name for n in spec.graph(text).nodes()]
    assert first == [n.name for n in spec.graph(text).nodes()]
    assert first == ["x", "u.dense", "u.relu", "u.dense_1", "u_1.0.dense", "u_1.0.relu", "u_1.0.dense_1",
                     "u_1.1.dense", "u_1.1.relu", "u_1.1.dense_1", "relu", "head"]


def test_from_empty_list_means_no_inputs(spec):
    """A constant takes no input (``from: []``); an op that needs one says so, and a
    skipped layer with nothing to stand for is refused."""
    graph = spec.graph("""
        netspec: 1
        name: c
        inputs: {x: [4]}
        layers:
          - constant: {name: k, shape: [1, 4], from: []}
          - add: {from: [x, k]}
    """)
    assert graph.node("k").inputs == [] and graph.node("add").inputs == ["x", "k"]
    assert spec.errors("""
        netspec: 1
        name: c
        inputs: {x: [3, 4]}
        layers:
          - conv: {filters: 2, kernel: 1, from: []}
    """) == ["main.yaml:6:5: conv takes 1 input(s), received 0"]
    errors = spec.errors("""
        netspec: 1
        name: c
        inputs: {x: [4]}
        layers:
          - constant: {shape: [1, 4], from: [], when: false}
    """)
    assert len(errors) == 1 and "a skipped layer stands for its input, and this one has none" in errors[0]
