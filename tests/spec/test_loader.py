"""Safe YAML with positions: plain data only, every value located, hostile files refused."""
import pytest

from netspec.errors import NetspecError
from netspec.spec.loader import MAX_DEPTH, LocDict, LocList, load_yaml_file, load_yaml_text


def errors_of(text):
    with pytest.raises(NetspecError) as info:
        load_yaml_text(text, "s.yaml")
    return str(info.value).splitlines()


def test_positions_of_keys_values_and_items():
    data = load_yaml_text("a: 1\nlayers:\n  - relu\n  - conv: {filters: 8}\n", "s.yaml")
    assert isinstance(data, LocDict) and isinstance(data["layers"], LocList)
    assert str(data.where_key("layers")) == "s.yaml:2:1"
    assert str(data.where("a")) == "s.yaml:1:4"
    assert str(data["layers"].where(1)) == "s.yaml:4:5"
    conv = data["layers"][1]["conv"]
    assert str(conv.where("filters")) == "s.yaml:4:21" and str(conv.where_key("filters")) == "s.yaml:4:12"


def test_scalars_are_plain_and_exponents_are_numbers():
    data = load_yaml_text("{a: 1e-3, b: 2.5E+2, c: 1_000, d: null, e: true, f: text, g: '1e-3'}")
    assert data == {"a": 0.001, "b": 250.0, "c": 1000, "d": None, "e": True, "f": "text", "g": "1e-3"}


@pytest.mark.parametrize("tag", ["!!python/object:os.system", "!!python/object/apply:os.system",
                                 "!!python/name:os.system", "!!binary", "!custom", "!!set"])
def test_tags_are_refused(tag):
    (line,) = errors_of(f"a: {tag} x\n")
    assert line.startswith("s.yaml:1:4: YAML tag") and "plain data only" in line


def test_tag_on_a_collection_is_refused():
    (line,) = errors_of("a: !!python/object/new:list [1]\n")
    assert "python/object/new:list" in line


def test_every_duplicate_key_and_tag_is_reported():
    lines = errors_of("a: 1\nb: !!python/name:os.system x\na: 2\nb2: {c: 1, c: 2}\n")
    assert [line.split(": ", 1)[0] for line in lines] == ["s.yaml:2:4", "s.yaml:3:1", "s.yaml:4:12"]
    assert "duplicate key 'a' (first at line 1)" in lines[1]


def test_non_name_keys():
    (line,) = errors_of("yes: 1\n")
    assert "mapping keys must be names, received 'yes' (read as True)" in line and "quote it" in line
    assert "received 'a collection'" in errors_of("? [a]\n: 1\n")[0]


def test_merge_keys_are_refused():
    assert "merge keys" in errors_of("base: &b {x: 1}\nother: {<<: *b}\n")[0]


def test_syntax_errors_name_line_and_column():
    (line,) = errors_of("a: [1, 2\nb: 3\n")
    assert line.startswith("s.yaml:2:2: YAML syntax error: did not find expected ',' or ']'")
    assert "started at line 1, column 4" in line


def test_tab_indentation():
    (line,) = errors_of("a:\n\tb: 1\n")
    assert line == "s.yaml:2:1: YAML syntax error: a tab character cannot indent YAML (hint: indent with spaces)"


def test_deep_nesting_is_refused():
    text = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    assert f"nested more than {MAX_DEPTH} levels" in errors_of(text)[0]
    very = "a: " + "[" * 100_000 + "]" * 100_000
    assert "nesting depth" in errors_of(very)[0]


def test_alias_bomb_is_refused():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join('*' + chr(96 + i) for _ in range(10))}]")
    assert "alias bomb" in errors_of("\n".join(lines) + "\n")[0]


def test_empty_text_is_none():
    assert load_yaml_text("", "s.yaml") is None


def test_file_checks(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(NetspecError, match="cannot read spec"):
        load_yaml_file(str(missing))
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(NetspecError, match="not UTF-8"):
        load_yaml_file(str(binary))
    bom = tmp_path / "bom.yaml"
    bom.write_bytes("\ufeffa: 1\n".encode())
    assert load_yaml_file(str(bom)) == {"a": 1}


def test_huge_text_is_refused_before_parsing():
    with pytest.raises(NetspecError, match="above the 10 MiB limit"):
        load_yaml_text("#" * (11 * 2**20), "big.yaml")
