"""Messages to patients: templates, transports (SMTP, SMS gateway) and the durable outbox."""
