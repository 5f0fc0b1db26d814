"""Small readers over synthesised CloudFormation templates, shared by the infra tests."""

from __future__ import annotations

from collections.abc import Iterator


def resources(template: dict, type_: str) -> dict[str, dict]:
    """Logical id -> Properties of every resource of one type."""
    return {k: v.get("Properties", {}) for k, v in template["Resources"].items() if v["Type"] == type_}


def only(template: dict, type_: str, **match) -> tuple[str, dict]:
    """The one resource of a type whose properties include `match`."""
    found = [(k, p) for k, p in resources(template, type_).items() if all(p.get(f) == v for f, v in match.items())]
    assert len(found) == 1, f"expected one {type_} with {match}, found {[k for k, _ in found]}"
    return found[0]


def ref(logical_id: str) -> dict:
    return {"Ref": logical_id}


def policy_statements(template: dict) -> Iterator[tuple[str, dict]]:
    """(owner logical id, statement) for every identity and resource policy in the template."""
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents = [props.get("PolicyDocument"), props.get("AssumeRolePolicyDocument"), props.get("FileSystemPolicy")]
        documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        for document in filter(None, documents):
            for statement in document["Statement"]:
                yield logical_id, statement


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]
