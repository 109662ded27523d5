"""JSON as the contract promises it: RFC 8259, so no NaN or Infinity placeholders."""

from __future__ import annotations

import json
from typing import Any


def strict_json(text: str) -> Any:
    """Parse as RFC 8259 JSON: NaN, Infinity and -Infinity fail the test."""

    def refuse(constant: str) -> Any:
        # AssertionError rather than pytest.fail so Hypothesis tests shrink it like any failure.
        raise AssertionError(f"not RFC 8259 JSON: contains {constant}")

    return json.loads(text, parse_constant=refuse)
