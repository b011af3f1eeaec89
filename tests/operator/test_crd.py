"""The CRD is a valid, structural apiextensions/v1 object; examples pass or fail its schema."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from cienty_knowledge_operator.jobs import build_job
from cienty_knowledge_operator.settings import OperatorSettings
from cienty_knowledge_operator.validation import spec_problem

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "k8s/crds/knowledgesources.knowledge.cienty.io.yaml"
EXAMPLES = ROOT / "k8s/crds/examples"
RBAC_FILE = ROOT / "operators/knowledge/deploy/rbac.yaml"
K8S_VERSION = "1.33.0"


def _crd() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CRD_FILE.read_text())
    return data


def _version() -> dict[str, Any]:
    version: dict[str, Any] = _crd()["spec"]["versions"][0]
    return version


def _as_json_schema(node: Any) -> Any:
    """OpenAPI v3 (Kubernetes flavour) to JSON Schema: `nullable` becomes a null type."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _as_json_schema(value) for key, value in node.items()}
    if result.pop("nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_crd_validates_against_the_kubernetes_schema() -> None:
    kubernetes_validate.validate(_crd(), K8S_VERSION, strict=True)


def test_rbac_and_a_generated_job_validate_against_the_kubernetes_schema() -> None:
    for document in _documents(RBAC_FILE):
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    body = {
        "metadata": {"name": "faq", "namespace": "kb", "generation": 1, "uid": "u"},
        "spec": {"source": {"configMap": {"name": "cm"}}},
    }
    kubernetes_validate.validate(build_job(body, 0, OperatorSettings()), K8S_VERSION, strict=True)


def _assert_structural(node: dict[str, Any], path: str) -> None:
    """Every schema node states its type (or preserves unknown fields), as structural
    schemas require; no node mixes `properties` and `additionalProperties`."""
    if not node.get("x-kubernetes-preserve-unknown-fields") and not node.get(
        "x-kubernetes-int-or-string"
    ):
        assert "type" in node, f"{path} has no type"
    assert not ("properties" in node and "additionalProperties" in node), path
    for name, child in (node.get("properties") or {}).items():
        _assert_structural(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        _assert_structural(node["items"], f"{path}[]")


def test_crd_schema_is_structural_with_status_and_columns() -> None:
    crd = _crd()
    assert crd["spec"]["names"]["shortNames"] == ["ks"]
    assert crd["spec"]["scope"] == "Namespaced"
    version = _version()
    assert version["name"] == "v1alpha1"
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Chunks": ".status.chunkCount",
        "Last Sync": ".status.lastSyncTime",
        "Age": ".metadata.creationTimestamp",
    }
    schema = version["schema"]["openAPIV3Schema"]
    _assert_structural(schema, "openAPIV3Schema")
    jsonschema.Draft4Validator.check_schema(_as_json_schema(schema))
    status = schema["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == ["Pending", "Syncing", "Ready", "Failed", "Deleting"]
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]
    # The rules JSON Schema cannot express are CEL; validation.spec_problem mirrors them.
    spec = schema["properties"]["spec"]["properties"]
    assert spec["source"]["x-kubernetes-validations"][0]["rule"].count("has(self.") == 5
    assert "overlapTokens <" in spec["chunking"]["x-kubernetes-validations"][0]["rule"]


def _errors(document: dict[str, Any]) -> list[str]:
    schema = _as_json_schema(_version()["schema"]["openAPIV3Schema"])
    validator = jsonschema.Draft4Validator(schema)
    found = [error.message for error in validator.iter_errors(document)]
    problem = spec_problem(document.get("spec") or {})  # the CEL rules' equivalent
    return found + ([problem] if problem else [])


VALID = [
    pytest.param(doc, id=f"{path.stem}/{doc['metadata']['name']}")
    for path in sorted(EXAMPLES.glob("*.yaml"))
    if not path.stem.startswith("invalid")
    for doc in _documents(path)
]
INVALID = [
    pytest.param(doc, id=doc["metadata"]["name"])
    for doc in _documents(EXAMPLES / "invalid-examples.yaml")
]


@pytest.mark.parametrize("document", VALID)
def test_valid_examples_pass(document: dict[str, Any]) -> None:
    assert document["apiVersion"] == "knowledge.cienty.io/v1alpha1"
    assert _errors(document) == []


@pytest.mark.parametrize("document", INVALID)
def test_invalid_examples_fail(document: dict[str, Any]) -> None:
    assert _errors(document), "expected the schema to refuse it"


def test_schema_alone_refuses_two_sources_and_bad_names() -> None:
    schema = _as_json_schema(_version()["schema"]["openAPIV3Schema"])
    base: dict[str, Any] = {
        "apiVersion": "knowledge.cienty.io/v1alpha1",
        "kind": "KnowledgeSource",
        "metadata": {"name": "x"},
        "spec": {"source": {"inline": {"documents": [{"name": "a.md", "content": "x"}]}}},
    }
    jsonschema.validate(base, schema)
    for change in (
        {"source": {"inline": base["spec"]["source"]["inline"], "configMap": {"name": "c"}}},
        {"collection": "9lives"},
        {"chunking": {"maxTokens": 9000}},
        {"schedule": "daily"},
    ):
        document = copy.deepcopy(base)
        document["spec"].update(change)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, schema)
