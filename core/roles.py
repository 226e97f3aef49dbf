"""Organisation kinds, hospital grades and user roles, and which roles each kind of organisation may hold."""

from __future__ import annotations

from enum import StrEnum


class OrgKind(StrEnum):
    HOSPITAL = "hospital"
    MANUFACTURER = "manufacturer"
    DISTRIBUTOR = "distributor"
    INSURANCE_BUREAU = "insurance_bureau"
    PROCUREMENT_OFFICE = "procurement_office"  # national/provincial offices, the Sanming alliance, platform operator


class HospitalGrade(StrEnum):
    """The three-level, three-class hospital grading (医院等级); ``ungraded`` for 未定级."""

    G3A = "3A"  # 三级甲等
    G3B = "3B"  # 三级乙等
    G3C = "3C"  # 三级丙等
    G2A = "2A"  # 二级甲等
    G2B = "2B"  # 二级乙等
    G2C = "2C"  # 二级丙等
    G1A = "1A"  # 一级甲等
    G1B = "1B"  # 一级乙等
    G1C = "1C"  # 一级丙等
    UNGRADED = "ungraded"  # 未定级


class Role(StrEnum):
    PHARMACIST = "pharmacist"
    PHARMACY_MANAGER = "pharmacy_manager"
    SUPPLIER_REP = "supplier_rep"
    AUDITOR = "auditor"
    ORGANISER = "organiser"
    ADMIN = "admin"


class UserGroup(StrEnum):
    """The five home pages a user can land on."""

    PHARMACY = "pharmacy"
    SUPPLIER = "supplier"
    AUDITOR = "auditor"
    ORGANISER = "organiser"
    ADMIN = "admin"


# Who may hold a role. Organisers sit in procurement offices and in lead hospitals of hospital-led alliances
# (药共体, rulebook 0.6); the administrator role belongs to the platform operator, a procurement office.
ROLE_ORG_KINDS: dict[Role, frozenset[OrgKind]] = {
    Role.PHARMACIST: frozenset({OrgKind.HOSPITAL}),
    Role.PHARMACY_MANAGER: frozenset({OrgKind.HOSPITAL}),
    Role.SUPPLIER_REP: frozenset({OrgKind.MANUFACTURER, OrgKind.DISTRIBUTOR}),
    Role.AUDITOR: frozenset({OrgKind.INSURANCE_BUREAU}),
    Role.ORGANISER: frozenset({OrgKind.PROCUREMENT_OFFICE, OrgKind.HOSPITAL}),
    Role.ADMIN: frozenset({OrgKind.PROCUREMENT_OFFICE}),
}

# The first matching group decides a user's home page.
_GROUP_ORDER: tuple[tuple[Role, UserGroup], ...] = (
    (Role.ADMIN, UserGroup.ADMIN),
    (Role.AUDITOR, UserGroup.AUDITOR),
    (Role.ORGANISER, UserGroup.ORGANISER),
    (Role.SUPPLIER_REP, UserGroup.SUPPLIER),
    (Role.PHARMACY_MANAGER, UserGroup.PHARMACY),
    (Role.PHARMACIST, UserGroup.PHARMACY),
)


def user_groups(roles: frozenset[Role] | set[Role]) -> list[UserGroup]:
    """Return the groups a set of roles belongs to, the primary one first."""
    groups: list[UserGroup] = []
    for role, group in _GROUP_ORDER:
        if role in roles and group not in groups:
            groups.append(group)
    return groups
