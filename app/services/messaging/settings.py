"""Which transports this workstation sends through, from its settings (environment for now).

Only the workstation chosen to send messages should have these set: the outbox lives in each
workstation's own database, and two senders would each remind the same patient.
"""

import os
from collections.abc import Mapping

from app.services.messaging.transports import EmailTransport, SmsGatewayTransport, Transport


def transports_from_env(env: Mapping[str, str] = os.environ) -> dict[str, Transport]:
    """Email over SMTP when CHAIRSIDE_SMTP_HOST is set; SMS when CHAIRSIDE_SMS_URL is set."""
    out: dict[str, Transport] = {}
    if env.get("CHAIRSIDE_SMTP_HOST"):
        out["email"] = EmailTransport(
            env["CHAIRSIDE_SMTP_HOST"],
            int(env.get("CHAIRSIDE_SMTP_PORT", "587")),
            from_address=env.get("CHAIRSIDE_SMTP_FROM", "reminders@localhost"),
            username=env.get("CHAIRSIDE_SMTP_USER", ""),
            starttls=env.get("CHAIRSIDE_SMTP_STARTTLS", "1") != "0",
        )
    if env.get("CHAIRSIDE_SMS_URL"):
        # the gateway token lives in the OS keyring, never in the environment
        out["sms"] = SmsGatewayTransport(env["CHAIRSIDE_SMS_URL"])
    return out
