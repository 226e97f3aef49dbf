"""The acting user, handed to every service, and the role and organisation-scope checks made on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import FORBIDDEN, DomainError
from core.roles import OrgKind, Role, UserGroup, user_groups


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    org_id: int | None
    org_kind: OrgKind | None
    roles: frozenset[Role] = field(default_factory=frozenset)
    request_id: str | None = None

    @classmethod
    def system(cls, job: str, *, request_id: str | None = None) -> Actor:
        """Build the actor of a scheduled or command-line job; it acts as a platform administrator."""
        return cls(None, f"system:{job}", None, None, frozenset({Role.ADMIN}), request_id)

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    @property
    def groups(self) -> list[UserGroup]:
        return user_groups(self.roles)

    def has(self, *roles: Role) -> bool:
        """Return whether the actor holds any of ``roles``."""
        return any(role in self.roles for role in roles)

    def require(self, *roles: Role, org_id: int | None = None) -> None:
        """Refuse unless the actor holds one of ``roles`` (and, when given, belongs to organisation ``org_id``)."""
        if not self.has(*roles):
            wanted = ", ".join(sorted(role.value for role in roles))
            raise DomainError(FORBIDDEN, f"this action needs one of the roles: {wanted}", code="role_required")
        if org_id is not None and self.org_id != org_id and not self.is_system:
            raise DomainError(FORBIDDEN, "this action belongs to another organisation", code="foreign_organisation")

    def with_request(self, request_id: str | None) -> Actor:
        """Return the same actor tagged with a request id (for audit records)."""
        return Actor(self.user_id, self.username, self.org_id, self.org_kind, self.roles, request_id)
