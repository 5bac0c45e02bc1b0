"""Domain errors of the metadata store."""

from saas.errors import DomainError


class NotFound(DomainError):
    status = 404


class LimitReached(DomainError):
    status = 409
