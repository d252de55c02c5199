"""The one error type the test-host code raises: its message is meant for the operator as it is."""


class TesthostError(Exception):
    """A precondition or operation failed; ``str(err)`` says what and how to fix it."""
