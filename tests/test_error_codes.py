"""docs/api.md's error-code tables agree with the codes the server's code can answer.

The server's codes are read from its source: every ``IngestError`` subclass raised (its
``code=`` when it is a literal, else the class's default), every ``error_response`` with a
literal code, the framework's HTTP codes, the ``code`` of the exceptions whose code is passed
on (``code=e.code``), and every per-event ``Rejection`` code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ingest import errors

ROOT = Path(__file__).resolve().parents[1]
SERVER = ("ingest", "monitoring", "aggregator")
API = (ROOT / "docs" / "api.md").read_text()


def sources() -> list[ast.Module]:
    return [ast.parse(p.read_text()) for pkg in SERVER for p in sorted((ROOT / pkg).rglob("*.py"))]


def error_classes() -> dict[str, str]:
    out, todo = {}, [errors.IngestError]
    while todo:
        cls = todo.pop()
        out[cls.__name__] = cls.code
        todo += cls.__subclasses__()
    return out


def literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def called(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def server_codes() -> tuple[set[str], set[str]]:
    """(codes sent in an error body, codes of rejected events inside a 202)."""
    classes = error_classes()
    answered: set[str] = set(errors._HTTP_CODES.values())
    rejected: set[str] = set()
    passed_on: set[str] = set()  # exception classes whose code= is handed to an error
    for tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name, kw = called(node), {k.arg: k.value for k in node.keywords}
                code = kw.get("code")
                if name in classes:
                    if code is None:
                        answered.add(classes[name])
                    elif literal(code):
                        answered.add(literal(code) or "")
                elif name == "error_response" and len(node.args) > 1 and literal(node.args[1]):
                    answered.add(literal(node.args[1]) or "")
                elif name == "Rejection" and literal(code):
                    rejected.add(literal(code) or "")
                elif name == "get" and len(node.args) == 2 and literal(node.args[1]) and \
                        isinstance(node.func, ast.Attribute) and \
                        getattr(node.func.value, "id", "") == "_HTTP_CODES":
                    answered.add(literal(node.args[1]) or "")
            if isinstance(node, ast.ExceptHandler) and node.name and node.type is not None:
                handed = any(isinstance(n, ast.Call) and called(n) in classes and any(
                    k.arg == "code" and isinstance(k.value, ast.Attribute)
                    and getattr(k.value.value, "id", "") == node.name for k in n.keywords)
                    for n in ast.walk(node))
                if handed:
                    passed_on.add(ast.unparse(node.type).split(".")[-1])
    for tree in sources():
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for stmt in cls.body:
                if cls.name in passed_on and isinstance(stmt, ast.Assign) and \
                        any(getattr(t, "id", "") == "code" for t in stmt.targets):
                    answered.add(literal(stmt.value) or "")
    answered.discard("")
    return answered, rejected


def documented() -> tuple[set[str], set[str]]:
    section = API[API.index("## Error codes"):]
    table = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    per_event = section[section.index("Per-event rejection codes"):]
    events = set(re.findall(r"`([a-z_]+)`", per_event.split("See [")[0]))
    return table, events


def test_every_error_code_the_server_answers_is_in_the_table_and_no_other() -> None:
    answered, _ = server_codes()
    table, _ = documented()
    assert sorted(answered - table) == []
    assert sorted(table - answered) == []


def test_every_per_event_rejection_code_is_listed() -> None:
    _, rejected = server_codes()
    _, listed = documented()
    assert rejected, "the scan found no rejection"
    assert sorted(rejected - listed) == []
