"""Domain errors of records."""

from saas.errors import DomainError


class RecordNotFound(DomainError):
    status = 404


class StaleVersion(DomainError):
    """The record changed since the caller read it (HTTP 412)."""

    status = 412

    def __init__(self, message: str, current: dict):
        super().__init__(message)
        self.current = current

    def to_dict(self) -> dict:
        body = super().to_dict()
        body["current"] = self.current
        return body


class VersionRequired(DomainError):
    status = 428
