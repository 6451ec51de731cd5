"""Roles and the permission scopes each one holds."""

from enum import StrEnum


class Role(StrEnum):
    DENTIST = "dentist"
    HYGIENIST = "hygienist"
    RECEPTIONIST = "receptionist"
    ADMINISTRATOR = "administrator"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Scope(StrEnum):
    PATIENTS_READ = "patients:read"
    PATIENTS_WRITE = "patients:write"
    PATIENTS_ARCHIVE = "patients:archive"
    # allergies, conditions and medications are clinical facts: entered by clinicians
    MEDICAL_WRITE = "medical:write"
    CHART_READ = "chart:read"
    CHART_WRITE = "chart:write"
    # treatment plans and their estimates, without the clinical record behind them
    PLANS_READ = "plans:read"
    # the procedure catalogue and its fees
    CATALOGUE_ADMIN = "catalogue:admin"
    APPOINTMENTS_READ = "appointments:read"
    APPOINTMENTS_WRITE = "appointments:write"
    # booking outside a provider's hours or over a block needs this and a reason
    APPOINTMENTS_OVERRIDE_HOURS = "appointments:override_hours"
    SCHEDULE_SETUP = "schedule:setup"
    BILLING_READ = "billing:read"
    BILLING_WRITE = "billing:write"
    USERS_ADMIN = "users:admin"
    AUDIT_READ = "audit:read"


_CLINICAL = {
    Scope.PATIENTS_READ,
    Scope.PATIENTS_WRITE,
    Scope.MEDICAL_WRITE,
    Scope.CHART_READ,
    Scope.CHART_WRITE,
    Scope.PLANS_READ,
    Scope.APPOINTMENTS_READ,
}

# the front desk: demographics, the book and the accounts, nothing clinical
_FRONT_DESK = {
    Scope.PATIENTS_READ,
    Scope.PATIENTS_WRITE,
    Scope.PATIENTS_ARCHIVE,
    Scope.APPOINTMENTS_READ,
    Scope.APPOINTMENTS_WRITE,
    Scope.PLANS_READ,
    Scope.BILLING_READ,
    Scope.BILLING_WRITE,
}

ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.DENTIST: frozenset(
        _CLINICAL
        | {
            Scope.PATIENTS_ARCHIVE,
            Scope.APPOINTMENTS_WRITE,
            Scope.APPOINTMENTS_OVERRIDE_HOURS,
            Scope.BILLING_READ,
            Scope.CATALOGUE_ADMIN,
        }
    ),
    Role.HYGIENIST: frozenset(_CLINICAL),
    Role.RECEPTIONIST: frozenset(_FRONT_DESK),
    Role.ADMINISTRATOR: frozenset(
        _FRONT_DESK
        | {
            Scope.APPOINTMENTS_OVERRIDE_HOURS,
            Scope.SCHEDULE_SETUP,
            Scope.CATALOGUE_ADMIN,
            Scope.USERS_ADMIN,
            Scope.AUDIT_READ,
        }
    ),
}


def scopes_for(role: Role) -> frozenset[Scope]:
    """The scopes a member of staff with this role holds."""
    return ROLE_SCOPES[role]
