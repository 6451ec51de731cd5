"""A workstation sends messages only through transports it has been given."""

from app.services.messaging.settings import transports_from_env
from app.services.messaging.transports import EmailTransport, SmsGatewayTransport


def test_a_workstation_without_settings_sends_nothing():
    assert transports_from_env({}) == {}


def test_smtp_and_sms_settings_give_both_transports():
    found = transports_from_env(
        {
            "CHAIRSIDE_SMTP_HOST": "mail.example.org",
            "CHAIRSIDE_SMTP_PORT": "2525",
            "CHAIRSIDE_SMTP_FROM": "desk@example.org",
            "CHAIRSIDE_SMS_URL": "http://127.0.0.1:9/sms",
        }
    )
    assert isinstance(found["email"], EmailTransport) and isinstance(found["sms"], SmsGatewayTransport)
    assert found["email"].port == 2525
