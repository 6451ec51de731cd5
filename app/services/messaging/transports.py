"""How a message leaves the workstation: email over SMTP, SMS through an HTTP gateway.

Each transport sends one message or raises TransportError, saying whether trying again
could help. Both carry the outbox id to the far side (email Message-ID, SMS idempotency
key), so a re-send after a crash is recognised there as the same message.
"""

import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import httpx
import keyring
from keyring.errors import KeyringError

log = logging.getLogger(__name__)

SMTP_KEYRING_SERVICE = "chairside-smtp"
SMS_KEYRING_SERVICE = "chairside-sms"
# SMTP replies that mean our configuration is wrong (auth), not the message: worth a retry
# once an administrator fixes the settings
_SMTP_CONFIG_CODES = {530, 534, 535, 538}
_MAX_ERROR = 300


class TransportError(Exception):
    """Sending failed; `permanent` means trying the same message again cannot succeed."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message[:_MAX_ERROR])
        self.permanent = permanent


@dataclass(frozen=True)
class Envelope:
    """What a transport needs of an outbox message."""

    outbox_id: str
    recipient: str
    subject: str
    body: str


class Transport(Protocol):
    def send(self, envelope: Envelope) -> None: ...


def _secret(service: str, account: str) -> str:
    try:
        value = keyring.get_password(service, account)
    except KeyringError as e:
        raise TransportError(f"no usable keyring for {service} ({type(e).__name__})", permanent=False) from None
    if not value:
        raise TransportError(f"no password stored in the keyring for {service}/{account}", permanent=False)
    return value


class EmailTransport:
    """Email over SMTP with STARTTLS; the password is read from the keyring at each send."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        from_address: str,
        username: str = "",
        starttls: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        keyring_service: str = SMTP_KEYRING_SERVICE,
    ) -> None:
        self.host = host
        self.port = port
        self.from_address = from_address
        self.username = username
        self.starttls = starttls
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.timeout = timeout
        self.keyring_service = keyring_service

    def message_id(self, outbox_id: str) -> str:
        """A Message-ID fixed by the outbox id: the same message re-sent carries the same id."""
        domain = self.from_address.rpartition("@")[2] or "chairside.invalid"
        return f"<{outbox_id}@{domain}>"

    def build(self, envelope: Envelope) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.from_address
        msg["To"] = envelope.recipient
        msg["Subject"] = envelope.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = self.message_id(envelope.outbox_id)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies loops
        msg.set_content(envelope.body)
        return msg

    def send(self, envelope: Envelope) -> None:
        msg = self.build(envelope)
        password = _secret(self.keyring_service, self.username) if self.username else ""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    # never fall back to plain text: a server without STARTTLS is an error
                    smtp.starttls(context=self.ssl_context)
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            permanent = all(c >= 500 for c in codes)
            raise TransportError(f"SMTP refused the recipient ({codes})", permanent=permanent) from None
        except smtplib.SMTPResponseException as e:
            code = e.smtp_code
            text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
            permanent = 500 <= code < 600 and code not in _SMTP_CONFIG_CODES
            raise TransportError(f"SMTP {code}: {text}", permanent=permanent) from None
        except smtplib.SMTPNotSupportedError as e:
            raise TransportError(f"SMTP server: {e}", permanent=False) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as e:
            # connection refused, timeouts, TLS failures, dropped connections: try again later
            raise TransportError(f"SMTP connection failed ({type(e).__name__}: {e})", permanent=False) from None
        if refused:
            raise TransportError(f"SMTP refused the recipient ({len(refused)})", permanent=True)


class SmsGatewayTransport:
    """SMS through an HTTP gateway: POST JSON {to, body, idempotency_key} with a bearer token."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        keyring_account: str = "gateway",
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self.keyring_account = keyring_account
        self.timeout = timeout
        # one client for all sends: keep-alive, and its TLS set-up (tens of ms) is paid once
        self._client = client
        self._client_lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _bearer(self) -> str:
        return self._token if self._token is not None else _secret(SMS_KEYRING_SERVICE, self.keyring_account)

    def send(self, envelope: Envelope) -> None:
        payload = {"to": envelope.recipient, "body": envelope.body, "idempotency_key": envelope.outbox_id}
        headers = {"Authorization": f"Bearer {self._bearer()}", "Idempotency-Key": envelope.outbox_id}
        try:
            response = self._http().post(self.url, json=payload, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as e:
            raise TransportError(f"SMS gateway unreachable ({type(e).__name__})", permanent=False) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        # 408 and 429 are "not now", not "never"
        permanent = 400 <= status < 500 and status not in (408, 429)
        raise TransportError(f"SMS gateway HTTP {status}: {response.text[:200]}", permanent=permanent)
