"""Domain errors of the metadata store."""

from typing import Any

from saas.errors import DomainError, ValidationFailed


class NotFound(DomainError):
    status = 404


class LimitReached(DomainError):
    status = 409


class SystemFieldError(ValidationFailed):
    """A change the product's own fields do not allow; ``errors`` names each property and why.

    The answer carries ``"error": "system_field"`` and the field (``object.key``), so clients
    can tell it from other conflicts."""

    status = 409

    def __init__(self, field: str, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.system_field = field

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"] = "system_field"
        body["field"] = self.system_field
        return body
