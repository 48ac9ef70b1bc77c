"""The offline verification example of docs/certificates.md, run as written against a
certificate issued by the real pipeline (catalog with certificates on, a learner completes it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.exceptions import InvalidSignature

from tests.helpers import auth, event, now_ms
from tests.pipeline import Pipeline

DOC = Path(__file__).resolve().parents[2] / "docs" / "certificates.md"
COURSE = {"title": "Algebra I", "certificate": {"enabled": True}, "modules": [
    {"module_id": "m1", "chapters": [{"chapter_id": "ch-1"}, {"chapter_id": "ch-2"}]}]}


def documented_example() -> dict[str, Any]:
    """The Python block under "Verifying offline", executed: its functions by name."""
    section = DOC.read_text().split("## Verifying offline", 1)[1]
    [code] = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    assert len(code.strip().splitlines()) <= 12  # the docs promise a short example
    names: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), names)  # our own docs: running them is the point
    return names


async def test_the_documented_offline_check_accepts_an_issued_certificate_and_no_forgery(
    client: TestClient, pipeline: Pipeline
) -> None:
    assert (await client.put("/v1/courses/algebra", json=COURSE, headers=auth())).status == 200
    t = now_ms() - 60_000
    events = [event("chapter_completed", id=f"c{i}", user_id="u-7", course_id="algebra",
                    chapter_id=ch, ts=t + i) for i, ch in enumerate(("ch-1", "ch-2"))]
    assert (await client.post("/v1/events", json={"events": events}, headers=auth())).status == 202
    await pipeline.flush()
    [listed] = (await (await client.get("/v1/users/u-7/certificates",
                                        headers=auth())).json())["certificates"]
    cert = await (await client.get(f"/v1/certificates/verify/{listed['code']}")).json()
    jwks = await (await client.get("/v1/certificates/keys")).json()

    is_authentic = documented_example()["certificate_is_authentic"]
    assert is_authentic(cert, jwks) is True
    assert cert["document"]["course_id"] == "algebra" and cert["title"] == "Algebra I"
    for field, value in [("user_id", "u-8"), ("title", "Algebra II"), ("code", "0" * 16)]:
        with pytest.raises(InvalidSignature):
            is_authentic({**cert, "document": {**cert["document"], field: value}}, jwks)
    with pytest.raises(StopIteration):
        is_authentic({**cert, "kid": "another-key"}, jwks)
    revoke = f"/v1/certificates/{listed['certificate_id']}:revoke"
    assert (await client.post(revoke, headers=auth())).status == 200
    revoked = await (await client.get(f"/v1/certificates/verify/{listed['code']}")).json()
    assert is_authentic(revoked, jwks) is False
