"""Workstations of a clinic: listing them, revoking one, and what a revoked one is told."""

from sync.protocol import REVOKED_MESSAGE
from tests.server.conftest import Cloud


def test_a_revoked_workstation_is_refused_with_a_message_saying_so(cloud: Cloud) -> None:
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id, "Front desk")
    surgery = cloud.enrol(clinic_id, "Surgery 1")

    revoked = cloud.client.post(f"/v1/devices/{surgery.device_id}/revoke", headers=desk.headers)
    pull = cloud.client.get("/v1/sync/pull", params={"cursor": 0}, headers=surgery.headers)
    push = surgery.push_changes({"recall": {"created": [{"id": "r-1", "version": 1}]}})
    listing = cloud.client.get("/v1/devices", headers=surgery.headers)

    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    for refused in (pull, push, listing):
        assert refused.status_code == 401
        assert refused.json()["detail"] == REVOKED_MESSAGE
    # the other workstation carries on, and saw nothing of the refused push
    assert desk.pull(0).changes == {}


def test_the_clinic_lists_its_workstations_with_when_they_were_last_seen(cloud: Cloud) -> None:
    clinic_id = cloud.clinic()
    desk = cloud.enrol(clinic_id, "Front desk")
    cloud.enrol(clinic_id, "Surgery 1")

    listing = cloud.client.get("/v1/devices", headers=desk.headers)

    assert listing.status_code == 200
    rows = listing.json()
    assert [d["name"] for d in rows] == ["Front desk", "Surgery 1"]
    assert rows[0]["last_seen_at"] is not None
    assert all("token" not in key for row in rows for key in row)


def test_requests_without_a_valid_token_are_refused(cloud: Cloud) -> None:
    no_token = cloud.client.get("/v1/devices")
    forged = cloud.client.get("/v1/devices", headers={"Authorization": "Bearer chs_not-a-real-token"})

    assert no_token.status_code == 401
    assert forged.status_code == 401
    assert "not enrolled" in forged.json()["detail"]
