"""The one exception family of digest; the CLI turns it into a one-line message."""


class DigestError(Exception):
    """Base of every error digest reports to a person."""


class ConfigError(DigestError):
    """The settings file or a DIGEST_* variable is missing, malformed or unknown."""


class StorageError(DigestError):
    """The database cannot be reached, or its schema is not what this version needs."""


class CollectError(DigestError):
    """A source could not be fetched or parsed."""


class ComposeError(DigestError):
    """An issue cannot be composed (nothing to send, unknown item, wrong state)."""


class ItemError(DigestError):
    """An editor's item is incomplete, malformed or unknown, or cannot change state."""


class RenderError(DigestError):
    """A template or the MJML compiler failed; names the template and line where known."""


class SubscriberError(DigestError):
    """A subscriber address or import file is invalid."""


class SendError(DigestError):
    """Delivery failed."""


class TemporarySendError(SendError):
    """The server said try again later (4xx, or the connection dropped)."""


class PermanentSendError(SendError):
    """The server refused the message for good (5xx)."""
