"""Use cases of the cloud service: plain functions over a session; routes stay thin over them."""


class ServiceError(Exception):
    """An error whose message is meant for the person at the workstation or the clinic's IT."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
