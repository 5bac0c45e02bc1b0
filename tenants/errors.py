"""Domain errors of the tenancy layer."""

from saas.errors import DomainError


class MissingTenantContext(RuntimeError):
    """A tenant-owned table was queried or written with no tenant in context.

    This is a programming error, never a user error: it must not be caught to widen a query.
    """


class TenantMismatch(RuntimeError):
    """A row was written for a tenant other than the one in context."""


class SlugInvalid(DomainError):
    status = 400
    field = "slug"


class SlugTaken(DomainError):
    status = 409
    field = "slug"


class NotAMember(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class LastOwner(DomainError):
    status = 409
    field = "role"


class InvitationInvalid(DomainError):
    status = 404
