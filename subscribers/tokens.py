"""Signed tokens for links that change something (unsubscribe, preferences, confirm).

itsdangerous signs with HMAC; the newest key signs and every listed key verifies, so keys can
be rotated without breaking links already in inboxes.

A token names its subscriber by id *and* by the record's random link key: ids are never
reused, and the key is made with the record and never reused either, so a link made for a
person who was forgotten can never reach a record made later. Tokens from before link keys
(the id alone) are refused: nothing can tell whether the id they name still belongs to the
person they were sent to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    TimestampSigner,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)

from digest.errors import SubscriberError

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
CONFIRM = "confirm"


class InvalidLink(SubscriberError):
    """A token that was not made by us: forged, altered, cut short, or of another purpose."""


class ExpiredLink(InvalidLink):
    """A token we made, but longer ago than its purpose allows."""


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """Whom a verified link names: the record with this id, while it has this link key."""

    subscriber_id: int
    link_key: str


def _target(value: object) -> LinkTarget | None:
    match value:
        case [int() as subscriber_id, str() as link_key] if (
            not isinstance(subscriber_id, bool) and link_key
        ):
            return LinkTarget(subscriber_id, link_key)
    return None


def _serializer(keys: Sequence[str], purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(
        list(keys), salt=f"digest.{purpose}", signer_kwargs={"digest_method": hashlib.sha256}
    )


class TokenSigner:
    """Makes and checks the tokens of one purpose; built once per run, used per recipient."""

    def __init__(self, keys: Sequence[str], purpose: str) -> None:
        self.purpose = purpose
        self._serializer = _serializer(keys, purpose)

    def sign(self, subscriber_id: int, link_key: str) -> str:
        return str(self._serializer.dumps([subscriber_id, link_key]))

    def verify(self, token: str) -> LinkTarget:
        try:
            value = self._serializer.loads(token)
        except BadSignature:
            raise InvalidLink(f"the {self.purpose} link is not valid") from None
        target = _target(value)
        if target is None:
            raise InvalidLink(f"the {self.purpose} link is not valid")
        return target


class _ClockedSigner(TimestampSigner):
    """itsdangerous' timestamp signer reading the time from a clock we pass in (tests)."""

    def __init__(self, *args: Any, clock: Callable[[], datetime], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())


class TimedTokenSigner:
    """Tokens that expire (confirm links): a subscriber, and a stamp of their record.

    The stamp lets the action check that the record is still in the state the link was made
    for, so a confirm link cannot be replayed after the person confirmed or left again.
    """

    def __init__(
        self,
        keys: Sequence[str],
        purpose: str,
        clock: Callable[[], datetime],
        max_age: timedelta,
    ) -> None:
        self.purpose = purpose
        self.max_age = max_age
        self._serializer = URLSafeTimedSerializer(
            list(keys),
            salt=f"digest.{purpose}",
            signer=_ClockedSigner,
            signer_kwargs={"digest_method": hashlib.sha256, "clock": clock},
        )

    def sign(self, subscriber_id: int, link_key: str, stamp: str) -> str:
        return str(self._serializer.dumps([subscriber_id, link_key, stamp]))

    def verify(self, token: str) -> tuple[LinkTarget, str]:
        """(whom, stamp); ExpiredLink when too old, InvalidLink when not ours."""
        try:
            value = self._serializer.loads(token, max_age=int(self.max_age.total_seconds()))
        except SignatureExpired:
            raise ExpiredLink(f"the {self.purpose} link has expired") from None
        except BadSignature:
            raise InvalidLink(f"the {self.purpose} link is not valid") from None
        match value:
            case [subscriber_id, link_key, str() as stamp]:
                target = _target([subscriber_id, link_key])
                if target is not None:
                    return target, stamp
        raise InvalidLink(f"the {self.purpose} link is not valid")
