"""The workstation's HTTP client for the cloud service: enrolment, pull and push, device auth.

It knows the wire format and HTTP, nothing of the clinic database. Every failure becomes one
of the `CloudError`s below with a message a person can act on; `CloudUnreachable` is the
one that means "offline, try again later" (the caller backs off and retries).
"""

from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from sync.protocol import (
    REVOKED_MESSAGE,
    SCHEMA_HEADER,
    SCHEMA_VERSION,
    AuditPush,
    AuditPushed,
    EnrolRequest,
    EnrolResponse,
    PullResponse,
    PushRequest,
    PushResponse,
    SyncApi,
)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class CloudError(Exception):
    """The cloud refused or could not be asked; `message` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CloudUnreachable(CloudError):
    """No answer (offline, DNS, refused, timed out, connection dropped): retry later."""


class DeviceRevoked(CloudError):
    """The workstation's token was revoked or is unknown: it must be enrolled again."""


class UpgradeNeeded(CloudError):
    """The service speaks another schema: nothing was synced until one side is upgraded."""


class CloudRefused(CloudError):
    """Any other refusal (bad code, rate limit, a reused push id, a server error)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def verify_setting(ca_bundle: str | Path | None) -> bool | str:
    """httpx's `verify`: the system trust store, or the clinic's own CA bundle (TLS-inspecting proxies)."""
    if ca_bundle in (None, ""):
        return True
    path = Path(ca_bundle).expanduser()  # type: ignore[arg-type]
    if not path.is_file():
        raise CloudError(f"The CA bundle {path} does not exist; check the path set for the cloud connection.")
    return str(path)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else response.reason_phrase


class CloudClient:
    """`SyncApi` over HTTPS for one workstation (token may be None before enrolment)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        ca_bundle: str | Path | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {SCHEMA_HEADER: SCHEMA_VERSION, "User-Agent": "Chairside-workstation"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            verify=verify_setting(ca_bundle),
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "CloudClient":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; refusals and transport failures raised as `CloudError`s."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise CloudUnreachable(
                f"The cloud service at {self.base_url} could not be reached ({type(exc).__name__}); "
                "changes stay on this workstation and sync when it is back."
            ) from None
        if response.is_success:
            return response
        detail = _detail(response)
        if response.status_code == 401:
            raise DeviceRevoked(detail or REVOKED_MESSAGE)
        if response.status_code == 426:
            raise UpgradeNeeded(detail)
        if response.status_code in (502, 503, 504):
            raise CloudUnreachable(f"The cloud service is busy or restarting ({response.status_code}); will retry.")
        raise CloudRefused(detail, response.status_code)

    def enrol(self, code: str, device_name: str) -> EnrolResponse:
        body = EnrolRequest(code=code.strip(), device_name=device_name)
        response = self.request("POST", "/v1/enrol", json=body.model_dump())
        return EnrolResponse.model_validate_json(response.content)

    def pull(self, cursor: int, limit: int | None = None) -> PullResponse:
        params: dict[str, int] = {"cursor": cursor}
        if limit is not None:
            params["limit"] = limit
        response = self.request("GET", "/v1/sync/pull", params=params)
        return PullResponse.model_validate_json(response.content)

    def push(self, request: PushRequest) -> PushResponse:
        return PushResponse.model_validate_json(self._post("/v1/sync/push", request))

    def push_audit(self, request: AuditPush) -> AuditPushed:
        return AuditPushed.model_validate_json(self._post("/v1/audit/events", request))

    def _post(self, path: str, body: BaseModel) -> bytes:
        # serialised by pydantic, once (a push can be megabytes)
        response = self.request(
            "POST", path, content=body.model_dump_json(), headers={"Content-Type": "application/json"}
        )
        return response.content


_IMPLEMENTS: type[SyncApi] = CloudClient
