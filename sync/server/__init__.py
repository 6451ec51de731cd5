"""The Chairside cloud service: device enrolment and the sync API (FastAPI + SQLAlchemy)."""
