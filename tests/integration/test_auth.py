"""Signing in: lock-outs after repeated failures, disabled accounts, passwords, administrators."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.db.models import AuditEvent, StaffUser
from app.domain.errors import UserError, ValidationError
from app.domain.permissions import Role
from app.services import auth, patients, users
from app.services.auth import AccountDisabled, AccountLocked, InvalidCredentials, WeakPassword
from app.services.context import Ctx, NotSignedIn, PermissionDenied
from app.services.users import LastAdministrator
from tests.conftest import ADMIN_PASSWORD, STAFF_PASSWORD


@pytest.fixture
def admin(runtime) -> Ctx:  # type: ignore[no-untyped-def]
    return Ctx(runtime, auth.sign_in(runtime, "admin", ADMIN_PASSWORD))


def add(admin: Ctx, username: str, role: Role = Role.DENTIST) -> users.StaffSummary:
    return users.add_staff(admin, users.NewStaff(username, username.title(), role, STAFF_PASSWORD))


def fail_sign_ins(runtime, n: int, username: str = "admin") -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        with pytest.raises(InvalidCredentials, match="Wrong username or password"):
            auth.sign_in(runtime, username, "not-the-password")


def locked_until(runtime, username: str = "admin") -> datetime | None:  # type: ignore[no-untyped-def]
    with runtime.sessions() as s:
        return s.scalar(select(StaffUser.locked_until).where(StaffUser.username == username))


def let_lock_expire(runtime, username: str = "admin") -> None:  # type: ignore[no-untyped-def]
    """As if the lock-out time had passed."""
    with runtime.sessions() as s:
        s.execute(
            update(StaffUser)
            .where(StaffUser.username == username)
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
            .execution_options(synchronize_session=False)
        )
        s.commit()


def test_the_username_is_read_without_regard_to_case_or_spaces(runtime):
    assert auth.sign_in(runtime, "  ADMIN ", ADMIN_PASSWORD).username == "admin"


def test_five_failed_sign_ins_lock_the_account_even_for_the_right_password(runtime):
    fail_sign_ins(runtime, 4)
    assert locked_until(runtime) is None
    fail_sign_ins(runtime, 1)
    with pytest.raises(AccountLocked, match="Too many failed sign-ins"):
        auth.sign_in(runtime, "admin", ADMIN_PASSWORD)
    with runtime.sessions() as s:
        last = s.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert last.action == "auth.sign_in_refused"
    assert last.details == '{"reason": "locked"}'


def test_a_successful_sign_in_resets_the_count_of_failures(runtime):
    fail_sign_ins(runtime, 4)
    auth.sign_in(runtime, "admin", ADMIN_PASSWORD)
    fail_sign_ins(runtime, 4)
    assert auth.sign_in(runtime, "admin", ADMIN_PASSWORD).username == "admin"


def test_the_lock_lasts_the_policys_lockout_minutes_then_ends(runtime):
    runtime.policy.max_failed_logins = 3
    runtime.policy.lockout_minutes = 7
    before = datetime.now(UTC)
    fail_sign_ins(runtime, 3)
    until = locked_until(runtime)
    assert until is not None
    assert before + timedelta(minutes=7) <= until <= datetime.now(UTC) + timedelta(minutes=7)
    with pytest.raises(AccountLocked, match="locked for 7 more minute"):
        auth.sign_in(runtime, "admin", ADMIN_PASSWORD)
    let_lock_expire(runtime)
    assert auth.sign_in(runtime, "admin", ADMIN_PASSWORD).username == "admin"
    assert locked_until(runtime) is None


def test_a_locked_account_stays_locked_for_a_wrong_password_too(runtime):
    runtime.policy.max_failed_logins = 2
    fail_sign_ins(runtime, 2)
    first = locked_until(runtime)
    with pytest.raises(AccountLocked):
        auth.sign_in(runtime, "admin", "not-the-password")
    assert locked_until(runtime) == first


def test_wrong_passwords_at_the_lock_screen_lock_the_account(runtime, admin):
    runtime.policy.max_failed_logins = 3
    for _ in range(2):
        with pytest.raises(InvalidCredentials, match="Wrong password"):
            auth.unlock(admin, "not-the-password")
    with pytest.raises(AccountLocked):
        auth.unlock(admin, "not-the-password")
    with pytest.raises(AccountLocked):
        auth.unlock(admin, ADMIN_PASSWORD)
    with pytest.raises(AccountLocked):
        auth.sign_in(runtime, "admin", ADMIN_PASSWORD)


def test_an_administrator_resetting_the_password_lifts_the_lock(runtime, admin):
    add(admin, "dentist")
    fail_sign_ins(runtime, 5, "dentist")
    users.reset_password(admin, next(u.id for u in users.list_staff(admin) if u.username == "dentist"), "fresh-pw-123")
    assert auth.sign_in(runtime, "dentist", "fresh-pw-123").username == "dentist"


def test_the_staff_list_shows_a_locked_account(runtime, admin):
    add(admin, "dentist")
    fail_sign_ins(runtime, 5, "dentist")
    assert {u.username: u.locked for u in users.list_staff(admin)} == {"admin": False, "dentist": True}


def test_a_disabled_user_cannot_sign_in_until_enabled_again(runtime, admin):
    dentist = add(admin, "dentist")
    users.set_active(admin, dentist.id, False)
    with pytest.raises(AccountDisabled, match="disabled"):
        auth.sign_in(runtime, "dentist", STAFF_PASSWORD)
    # a wrong password does not reveal that the account exists but is disabled
    with pytest.raises(InvalidCredentials):
        auth.sign_in(runtime, "dentist", "not-the-password")
    users.set_active(admin, dentist.id, True)
    assert auth.sign_in(runtime, "dentist", STAFF_PASSWORD).role is Role.DENTIST


def test_a_user_disabled_while_signed_in_cannot_unlock_the_screen(runtime, admin):
    dentist_summary = add(admin, "dentist")
    dentist = Ctx(runtime, auth.sign_in(runtime, "dentist", STAFF_PASSWORD))
    auth.record_lock(dentist, "idle")
    users.set_active(admin, dentist_summary.id, False)
    with pytest.raises(AccountDisabled):
        auth.unlock(dentist, STAFF_PASSWORD)


def test_changing_ones_password_needs_the_current_one(runtime, admin):
    with pytest.raises(InvalidCredentials, match="current password is wrong"):
        auth.change_own_password(admin, "not-the-password", "a-brand-new-pw")
    assert auth.sign_in(runtime, "admin", ADMIN_PASSWORD)
    auth.change_own_password(admin, ADMIN_PASSWORD, "a-brand-new-pw")
    assert auth.sign_in(runtime, "admin", "a-brand-new-pw").username == "admin"
    with pytest.raises(InvalidCredentials):
        auth.sign_in(runtime, "admin", ADMIN_PASSWORD)


def test_a_short_or_unchanged_new_password_is_refused(runtime, admin):
    with pytest.raises(WeakPassword, match="at least 10 characters"):
        auth.change_own_password(admin, ADMIN_PASSWORD, "short")
    with pytest.raises(WeakPassword, match="must differ"):
        auth.change_own_password(admin, ADMIN_PASSWORD, ADMIN_PASSWORD)
    runtime.policy.min_password_length = 16
    with pytest.raises(WeakPassword, match="at least 16 characters"):
        auth.change_own_password(admin, ADMIN_PASSWORD, "fifteen-chars-x")
    assert auth.sign_in(runtime, "admin", ADMIN_PASSWORD)


def test_a_new_staff_password_must_be_long_enough(admin):
    with pytest.raises(ValidationError) as e:
        users.add_staff(admin, users.NewStaff("dentist", "Dr D", Role.DENTIST, "short"))
    assert "at least 10 characters" in e.value.messages()["password"]
    with pytest.raises(WeakPassword):
        users.reset_password(admin, admin.actor.user_id, "short")


def test_users_cannot_disable_themselves(admin):
    add(admin, "second", Role.ADMINISTRATOR)
    with pytest.raises(UserError, match="cannot disable your own account"):
        users.set_active(admin, admin.actor.user_id, False)
    assert {u.username: u.active for u in users.list_staff(admin)}["admin"] is True


def test_the_last_administrator_cannot_be_demoted(admin):
    second = add(admin, "second", Role.ADMINISTRATOR)
    users.set_role(admin, second.id, Role.DENTIST)
    with pytest.raises(LastAdministrator, match="at least one active administrator"):
        users.set_role(admin, admin.actor.user_id, Role.RECEPTIONIST)
    roles = {u.username: u.role for u in users.list_staff(admin)}
    assert roles == {"admin": Role.ADMINISTRATOR, "second": Role.DENTIST}


def test_a_disabled_administrator_does_not_count_as_another_administrator(admin):
    second = add(admin, "second", Role.ADMINISTRATOR)
    users.set_active(admin, second.id, False)
    with pytest.raises(LastAdministrator):
        users.set_role(admin, admin.actor.user_id, Role.DENTIST)
    users.set_active(admin, second.id, True)
    users.set_role(admin, admin.actor.user_id, Role.DENTIST)
    assert {u.username: u.role for u in users.list_staff(Ctx(admin.runtime, second_actor(admin)))} == {
        "admin": Role.DENTIST,
        "second": Role.ADMINISTRATOR,
    }


def second_actor(admin: Ctx):  # type: ignore[no-untyped-def]
    return auth.sign_in(admin.runtime, "second", STAFF_PASSWORD)


def test_a_demoted_administrator_loses_admin_rights_without_signing_out(runtime, admin):
    second = add(admin, "second", Role.ADMINISTRATOR)
    second_ctx = Ctx(runtime, second_actor(admin))
    users.set_role(admin, second.id, Role.DENTIST)
    with pytest.raises(PermissionDenied, match=r"Your role \(Dentist\)"):
        users.set_active(second_ctx, admin.actor.user_id, False)
    assert {u.username: u.active for u in users.list_staff(admin)}["admin"] is True


def test_a_disabled_user_is_stopped_at_the_next_call(runtime, admin):
    add(admin, "dentist")
    dentist = Ctx(runtime, auth.sign_in(runtime, "dentist", STAFF_PASSWORD))
    users.set_active(admin, dentist.actor.user_id, False)
    with pytest.raises(NotSignedIn, match="disabled"):
        patients.search(dentist, "smith")


def test_usernames_are_unique_whatever_their_case(admin):
    add(admin, "dentist")
    with pytest.raises(ValidationError) as e:
        users.add_staff(admin, users.NewStaff(" Dentist ", "Another", Role.HYGIENIST, STAFF_PASSWORD))
    assert e.value.messages() == {"username": "Username 'dentist' is already taken."}
    assert [u.username for u in users.list_staff(admin)].count("dentist") == 1


def test_a_username_with_spaces_or_symbols_is_refused(admin):
    with pytest.raises(ValidationError) as e:
        users.add_staff(admin, users.NewStaff("dr who!", "Dr Who", Role.DENTIST, STAFF_PASSWORD))
    assert "username" in e.value.messages()
