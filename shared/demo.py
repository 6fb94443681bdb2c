"""Stable ids for demo data, so that each service's demo rows refer to the same things."""

from __future__ import annotations

import uuid


def demo_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://demo.rapport.invalid/{name}"))
