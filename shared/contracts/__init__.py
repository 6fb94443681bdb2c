"""Versioned event contracts: one class per (type, version), each with a golden JSON sample.

Within a version only additive changes are allowed; a breaking change is a new class with
``VERSION = n + 1`` published side by side during a migration.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.envelope import Envelope, UndecodableEvent

REGISTRY: dict[tuple[str, int], type[Contract]] = {}


class Contract(BaseModel):
    # Unknown fields are ignored so that additive changes never break an older consumer.
    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TYPE" in cls.__dict__:
            key = (cls.TYPE, cls.VERSION)
            if key in REGISTRY:
                raise TypeError(f"contract {key} defined twice")
            REGISTRY[key] = cls

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def contract_for(event_type: str, version: int) -> type[Contract]:
    try:
        return REGISTRY[(event_type, version)]
    except KeyError:
        raise UndecodableEvent(f"no contract for {event_type} v{version}") from None


def parse(envelope: Envelope) -> Contract:
    """The typed payload of an envelope; UndecodableEvent when it does not fit its contract."""
    model = contract_for(envelope.type, envelope.version)
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise UndecodableEvent(f"{envelope.type} v{envelope.version}: {exc}") from exc


from shared.contracts import (  # noqa: E402,F401
    appointments,
    billing,
    check_ins,
    notifications,
    registry_data,
    waitlist,
)
