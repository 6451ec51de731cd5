"""Errors whose message is meant for the person at the keyboard."""


class UserError(Exception):
    """An error a user can act on; the UI shows its message as it is."""


class FieldError(UserError):
    """One field of a form holds a value that cannot be accepted."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ValidationError(UserError):
    """A form holds one or more values that cannot be accepted; nothing was saved."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))

    def messages(self) -> dict[str, str]:
        """Field name -> message for each rejected field."""
        return {e.field: e.message for e in self.errors}
