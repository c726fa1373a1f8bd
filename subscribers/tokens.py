"""Signed tokens for links that change something (unsubscribe, preferences, confirm).

itsdangerous signs with HMAC; the newest key signs and every listed key verifies, so keys can
be rotated without breaking links already in inboxes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from itsdangerous import BadSignature, URLSafeSerializer

from digest.errors import SubscriberError

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"


def _serializer(keys: Sequence[str], purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(
        list(keys), salt=f"digest.{purpose}", signer_kwargs={"digest_method": hashlib.sha256}
    )


class TokenSigner:
    """Makes and checks the tokens of one purpose; built once per run, used per recipient."""

    def __init__(self, keys: Sequence[str], purpose: str) -> None:
        self.purpose = purpose
        self._serializer = _serializer(keys, purpose)

    def sign(self, subscriber_id: int) -> str:
        return str(self._serializer.dumps(subscriber_id))

    def verify(self, token: str) -> int:
        try:
            value = self._serializer.loads(token)
        except BadSignature:
            raise SubscriberError(f"the {self.purpose} link is not valid") from None
        if not isinstance(value, int):
            raise SubscriberError(f"the {self.purpose} link is not valid")
        return value
