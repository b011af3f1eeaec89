"""The CRD's CEL rules, evaluated by a real CEL engine (cel-python), on every example and on
edge cases; the operator's Python mirror of them (validation.spec_problem) must agree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import celpy
import pytest
from celpy import adapter

from cienty_knowledge_operator.validation import spec_problem
from tests.operator.test_crd import EXAMPLES, _documents, _version

Rule = tuple[tuple[str, ...], str]  # (path of the object the rule sits on, CEL expression)


def _rules(node: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[Rule]:
    for validation in node.get("x-kubernetes-validations", []):
        yield path, validation["rule"]
    for name, child in (node.get("properties") or {}).items():
        yield from _rules(child, (*path, name))


RULES = list(_rules(_version()["schema"]["openAPIV3Schema"]))
_ENVIRONMENT = celpy.Environment()
_PROGRAMS = {rule: _ENVIRONMENT.program(_ENVIRONMENT.compile(rule)) for _, rule in RULES}


def _at(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = document
    for name in path:
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node


def cel_violations(document: dict[str, Any]) -> list[str]:
    """The rules the document breaks (a rule on an absent object does not apply)."""
    broken = []
    for path, rule in RULES:
        value = _at(document, path)
        if value is None:
            continue
        if not bool(_PROGRAMS[rule].evaluate({"self": adapter.json_to_cel(value)})):
            broken.append(rule)
    return broken


def test_the_crd_has_the_rules_this_suite_checks() -> None:
    paths = {path for path, _ in RULES}
    assert ("spec", "source") in paths
    assert ("spec", "chunking") in paths


EXAMPLES_ALL = [
    pytest.param(doc, id=f"{path.stem}/{doc['metadata']['name']}")
    for path in sorted(EXAMPLES.glob("*.yaml"))
    for doc in _documents(path)
]


@pytest.mark.parametrize("document", EXAMPLES_ALL)
def test_python_mirror_refuses_whatever_cel_refuses(document: dict[str, Any]) -> None:
    # The mirror also checks what CEL leaves to the schema (e.g. a cron it cannot parse).
    if cel_violations(document):
        assert spec_problem(document.get("spec") or {}) is not None


SOURCE = {"http": {"urls": ["https://cienty.com.br/ajuda"]}}


@pytest.mark.parametrize(
    ("spec", "valid"),
    [
        ({"source": SOURCE}, True),
        ({"source": {**SOURCE, "inline": {"documents": []}}}, False),
        ({"source": {}}, False),
        ({"source": SOURCE, "chunking": {"maxTokens": 64, "overlapTokens": 63}}, True),
        ({"source": SOURCE, "chunking": {"maxTokens": 64, "overlapTokens": 64}}, False),
        ({"source": SOURCE, "chunking": {"overlapTokens": 199}}, True),  # default maxTokens 200
        ({"source": SOURCE, "chunking": {"overlapTokens": 200}}, False),
        ({"source": SOURCE, "chunking": {"maxTokens": 16}}, True),
    ],
)
def test_cel_rules_on_edge_cases(spec: dict[str, Any], valid: bool) -> None:
    document = {"apiVersion": "knowledge.cienty.io/v1alpha1", "kind": "KnowledgeSource",
                "metadata": {"name": "x"}, "spec": spec}  # fmt: skip
    assert (cel_violations(document) == []) is valid
    assert (spec_problem(spec) is None) is valid
