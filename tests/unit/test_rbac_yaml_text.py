"""The manifests' YAML writer reads back to exactly the data it was given, in every reader that matters."""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from airpool.manifests import yaml_text

TRICKY = [
    "",
    "true",
    "on",
    "yes",
    "y",
    "N",
    "1",
    "1.5",
    "0x10",
    "01",
    "1e3",
    "null",
    "~",
    "2024-01-01",
    "a: b",
    "#x",
    "- x",
    "-",
    "*",
    "&a",
    "!tag",
    "ü",
    "x\ny",
    " lead",
    "trail ",
    "a/b",
    "app.kubernetes.io/name",
    "'",
]


def test_tricky_strings_and_shapes_round_trip() -> None:
    doc = {
        "strings": TRICKY,
        "labels": {key: key for key in TRICKY if key},
        "empty": {"map": {}, "list": []},
        "nested": [[1, 2], [{}], {"x": [{"k": "v", "l": [True, None, 3]}]}],
    }
    text = yaml_text.dump_all([doc, {"second": 2}])
    assert text.startswith("---\n")
    assert list(yaml.safe_load_all(text)) == [doc, {"second": 2}]


def test_go_yaml_booleans_are_quoted() -> None:
    text = yaml_text.dump_all([{"a": "y", "b": "n", "c": "Y", "d": "N", "e": "yes"}])
    assert text == '---\na: "y"\nb: "n"\nc: "Y"\nd: "N"\ne: "yes"\n'


def test_kubectl_style_lists_and_plain_names() -> None:
    text = yaml_text.dump_all([{"metadata": {"name": "pool-1"}, "rules": [{"apiGroups": [""], "verbs": ["get"]}]}])
    assert text == '---\nmetadata:\n  name: pool-1\nrules:\n- apiGroups:\n  - ""\n  verbs:\n  - get\n'


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(st.lists(st.dictionaries(st.text(), json_values, max_size=5), max_size=3))
def test_any_json_like_documents_round_trip(docs: list[dict[str, object]]) -> None:
    assert list(yaml.safe_load_all(yaml_text.dump_all(docs))) == docs
