"""The subscriber status rules: every status (and no record) against every event, with and
without the operator's --force, and the statuses a bulk update may touch."""

from __future__ import annotations

import itertools

import pytest

from digest.errors import SubscriberError
from digest.model import SubscriberStatus
from subscribers.status import FINAL, STOPPED, Event, Transition, changed_from, transition

S = SubscriberStatus
E = Event
NOBODY = "there is no such subscriber"
FORCE = "use --force"

# (before, event) -> (after without --force, after with --force); a string is the refusal's
# wording. --force only ever matters to ADD.
Answer = S | str | None
TABLE: dict[tuple[S | None, Event], tuple[Answer, Answer]] = {
    # No record yet: only the form and the operator make one.
    (None, E.SIGNUP): (S.PENDING, S.PENDING),
    (None, E.CONFIRM): (NOBODY, NOBODY),
    (None, E.RESUBSCRIBE): (NOBODY, NOBODY),
    (None, E.ADD): (S.ACTIVE, S.ACTIVE),
    (None, E.UNSUBSCRIBE): (NOBODY, NOBODY),
    (None, E.HARD_BOUNCE): (NOBODY, NOBODY),
    (None, E.SOFT_LIMIT): (NOBODY, NOBODY),
    (None, E.COMPLAINT): (NOBODY, NOBODY),
    (None, E.SUPPRESS): (NOBODY, NOBODY),
    (S.PENDING, E.SIGNUP): (S.PENDING, S.PENDING),
    (S.PENDING, E.CONFIRM): (S.ACTIVE, S.ACTIVE),
    (S.PENDING, E.RESUBSCRIBE): ("has not confirmed yet", "has not confirmed yet"),
    (S.PENDING, E.ADD): (S.ACTIVE, S.ACTIVE),
    (S.PENDING, E.UNSUBSCRIBE): (S.UNSUBSCRIBED, S.UNSUBSCRIBED),
    (S.PENDING, E.HARD_BOUNCE): (S.BOUNCED, S.BOUNCED),
    (S.PENDING, E.SOFT_LIMIT): (S.BOUNCED, S.BOUNCED),
    (S.PENDING, E.COMPLAINT): (S.COMPLAINED, S.COMPLAINED),
    (S.PENDING, E.SUPPRESS): (S.SUPPRESSED, S.SUPPRESSED),
    (S.ACTIVE, E.SIGNUP): (S.ACTIVE, S.ACTIVE),
    (S.ACTIVE, E.CONFIRM): (S.ACTIVE, S.ACTIVE),
    (S.ACTIVE, E.RESUBSCRIBE): (S.ACTIVE, S.ACTIVE),
    (S.ACTIVE, E.ADD): ("is already subscribed", "is already subscribed"),
    (S.ACTIVE, E.UNSUBSCRIBE): (S.UNSUBSCRIBED, S.UNSUBSCRIBED),
    (S.ACTIVE, E.HARD_BOUNCE): (S.BOUNCED, S.BOUNCED),
    (S.ACTIVE, E.SOFT_LIMIT): (S.BOUNCED, S.BOUNCED),
    (S.ACTIVE, E.COMPLAINT): (S.COMPLAINED, S.COMPLAINED),
    (S.ACTIVE, E.SUPPRESS): (S.SUPPRESSED, S.SUPPRESSED),
    (S.UNSUBSCRIBED, E.SIGNUP): (S.UNSUBSCRIBED, S.UNSUBSCRIBED),
    (S.UNSUBSCRIBED, E.CONFIRM): (S.ACTIVE, S.ACTIVE),
    (S.UNSUBSCRIBED, E.RESUBSCRIBE): (S.ACTIVE, S.ACTIVE),
    (S.UNSUBSCRIBED, E.ADD): (FORCE, S.ACTIVE),
    (S.UNSUBSCRIBED, E.UNSUBSCRIBE): (S.UNSUBSCRIBED, S.UNSUBSCRIBED),
    (S.UNSUBSCRIBED, E.HARD_BOUNCE): (S.UNSUBSCRIBED, S.UNSUBSCRIBED),
    (S.UNSUBSCRIBED, E.SOFT_LIMIT): (S.UNSUBSCRIBED, S.UNSUBSCRIBED),
    (S.UNSUBSCRIBED, E.COMPLAINT): (S.COMPLAINED, S.COMPLAINED),
    (S.UNSUBSCRIBED, E.SUPPRESS): (S.SUPPRESSED, S.SUPPRESSED),
    (S.BOUNCED, E.SIGNUP): (S.BOUNCED, S.BOUNCED),
    (S.BOUNCED, E.CONFIRM): (S.ACTIVE, S.ACTIVE),
    (S.BOUNCED, E.RESUBSCRIBE): (S.ACTIVE, S.ACTIVE),
    (S.BOUNCED, E.ADD): (FORCE, S.ACTIVE),
    (S.BOUNCED, E.UNSUBSCRIBE): (S.BOUNCED, S.BOUNCED),
    (S.BOUNCED, E.HARD_BOUNCE): (S.BOUNCED, S.BOUNCED),
    (S.BOUNCED, E.SOFT_LIMIT): (S.BOUNCED, S.BOUNCED),
    (S.BOUNCED, E.COMPLAINT): (S.COMPLAINED, S.COMPLAINED),
    (S.BOUNCED, E.SUPPRESS): (S.SUPPRESSED, S.SUPPRESSED),
    (S.COMPLAINED, E.SIGNUP): (S.COMPLAINED, S.COMPLAINED),
    (S.COMPLAINED, E.CONFIRM): (S.ACTIVE, S.ACTIVE),
    (S.COMPLAINED, E.RESUBSCRIBE): (S.ACTIVE, S.ACTIVE),
    (S.COMPLAINED, E.ADD): (FORCE, S.ACTIVE),
    (S.COMPLAINED, E.UNSUBSCRIBE): (S.COMPLAINED, S.COMPLAINED),
    (S.COMPLAINED, E.HARD_BOUNCE): (S.COMPLAINED, S.COMPLAINED),
    (S.COMPLAINED, E.SOFT_LIMIT): (S.COMPLAINED, S.COMPLAINED),
    (S.COMPLAINED, E.COMPLAINT): (S.COMPLAINED, S.COMPLAINED),
    (S.COMPLAINED, E.SUPPRESS): (S.SUPPRESSED, S.SUPPRESSED),
    (S.SUPPRESSED, E.SIGNUP): (S.SUPPRESSED, S.SUPPRESSED),
    (S.SUPPRESSED, E.CONFIRM): ("is suppressed", "is suppressed"),
    (S.SUPPRESSED, E.RESUBSCRIBE): ("is suppressed", "is suppressed"),
    (S.SUPPRESSED, E.ADD): (FORCE, S.ACTIVE),
    (S.SUPPRESSED, E.UNSUBSCRIBE): (S.SUPPRESSED, S.SUPPRESSED),
    (S.SUPPRESSED, E.HARD_BOUNCE): (S.SUPPRESSED, S.SUPPRESSED),
    (S.SUPPRESSED, E.SOFT_LIMIT): (S.SUPPRESSED, S.SUPPRESSED),
    (S.SUPPRESSED, E.COMPLAINT): (S.SUPPRESSED, S.SUPPRESSED),
    (S.SUPPRESSED, E.SUPPRESS): (S.SUPPRESSED, S.SUPPRESSED),
}
CASES = [
    pytest.param(before, event, force, answers[force], id=f"{before}-{event}-force={force}")
    for (before, event), answers in TABLE.items()
    for force in (False, True)
]


def test_the_table_names_every_status_and_event() -> None:
    assert set(TABLE) == set(itertools.product([None, *S], E))


@pytest.mark.parametrize(("before", "event", "force", "expected"), CASES)
def test_transition(before: S | None, event: Event, force: bool, expected: Answer) -> None:
    step = transition(before, event, force=force)
    assert step.before == before
    if isinstance(expected, S):
        assert (step.after, step.refused, step.allowed) == (expected, "", True)
        assert step.changed == (expected != before)
        assert step.status == expected
    else:
        assert isinstance(expected, str)
        assert expected in step.refused and not step.allowed and not step.changed
        with pytest.raises(SubscriberError, match=expected):
            step.status  # noqa: B018 - the property raises


def test_refusing_add_names_the_status_and_the_way_out() -> None:
    step = transition(S.BOUNCED, Event.ADD)
    assert step.refused == (
        "is bounced; use --force to subscribe them again (only with their new consent)"
    )


def test_an_unsubscribe_keeps_what_says_more() -> None:
    for status in (S.BOUNCED, S.COMPLAINED, S.SUPPRESSED):
        assert transition(status, Event.UNSUBSCRIBE) == Transition(status, status)


@pytest.mark.parametrize(
    ("event", "force", "statuses"),
    [
        (E.SIGNUP, False, set()),
        (E.CONFIRM, False, {S.PENDING, *STOPPED}),
        (E.RESUBSCRIBE, False, set(STOPPED)),
        (E.ADD, False, {S.PENDING}),
        (E.ADD, True, {S.PENDING, *FINAL}),
        (E.UNSUBSCRIBE, False, {S.PENDING, S.ACTIVE}),
        (E.HARD_BOUNCE, False, {S.PENDING, S.ACTIVE}),
        (E.SOFT_LIMIT, False, {S.PENDING, S.ACTIVE}),
        (E.COMPLAINT, False, {S.PENDING, S.ACTIVE, S.UNSUBSCRIBED, S.BOUNCED}),
        (E.SUPPRESS, False, set(S) - {S.SUPPRESSED}),
    ],
)
def test_changed_from(event: Event, force: bool, statuses: set[S]) -> None:
    assert changed_from(event, force=force) == frozenset(statuses)
    for status in S:
        assert transition(status, event, force=force).changed == (status in statuses)


def test_force_only_matters_to_add() -> None:
    for event in set(E) - {E.ADD}:
        assert changed_from(event, force=True) == changed_from(event)
    assert changed_from(E.ADD, force=True) - changed_from(E.ADD) == FINAL


def test_the_sets() -> None:
    assert frozenset({S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED}) == STOPPED
    assert STOPPED | {S.SUPPRESSED} == FINAL
