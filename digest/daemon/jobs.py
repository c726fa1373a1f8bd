"""The daemon's jobs, each one idempotent and ending in one line: collect, the proof, the
weekly issue, unfinished sends, bounces and housekeeping. The runner records and logs them.

The weekly job's guarantees come from the database, not from this process: an issue is made
for a weekly time only through the unique week_slot column (a week never gets two issues),
and it is sent only through the delivery ledger under the send lease (no one gets it twice),
so restarts, `--once` runs and racing runs all end in the same place.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.daemon.rules import (
    CatchUp,
    Gate,
    WeekState,
    catch_up,
    gate,
    previous_fire,
    proof_slot,
    week_slot,
)
from digest.daemon.schedule import EarlierTrigger, JobName, send_trigger
from digest.daemon.stopping import STOP
from digest.db.engine import Database
from digest.db.issues import sending_numbers
from digest.db.jobs import JobOutcome, last_started
from digest.db.sending import send_record
from digest.db.weeks import (
    NotADraft,
    WeekIssue,
    claim_week,
    draft_for_week,
    issue_for_week,
    mark_proof_sent,
)
from digest.errors import ComposeError, DigestError, SendError, StorageError
from digest.model import IssueStatus
from digest.send.wiring import Relay
from digest.settings import Settings

log = logging.getLogger("digest.daemon")

# How long finished job runs are kept for `digest status`.
JOB_RUNS_KEEP_DAYS = 90
# Two runs making the week's issue at once: the loser's transaction fails on a unique
# column; it looks again and finds the winner's issue.
CLAIM_ATTEMPTS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class JobContext:
    """What every job is given: made once by the composition root (scheduler.py)."""

    db: Database
    settings: Settings
    clock: Callable[[], datetime]
    relay: Relay
    # The proof, weekly and deliveries jobs each send; in one process they take turns.
    issue_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobResult:
    outcome: JobOutcome
    line: str


def ok(line: str) -> JobResult:
    return JobResult(outcome=JobOutcome.OK, line=line)


def skipped(line: str) -> JobResult:
    return JobResult(outcome=JobOutcome.SKIPPED, line=line)


def failed(line: str) -> JobResult:
    return JobResult(outcome=JobOutcome.FAILED, line=line)


def at(ctx: JobContext, moment: datetime) -> str:
    """A time as the operator reads it: in the schedule's time zone."""
    local = moment.astimezone(ZoneInfo(ctx.settings.schedule.timezone))
    return f"{local:%Y-%m-%d %H:%M:%S %Z}" if local.second else f"{local:%Y-%m-%d %H:%M %Z}"


# -- collect -----------------------------------------------------------------------------


def collect_job(ctx: JobContext) -> JobResult:
    """Collect every source; each failing source is logged in one line."""
    from digest.collect import collect

    reports = collect(ctx.db, ctx.settings, ctx.clock)
    broken = [r for r in reports if r.error]
    for report in broken:
        log.warning("collect: %s", report.line)
    new = sum(r.new for r in reports)
    updated = sum(r.updated for r in reports)
    line = f"{len(reports)} source(s): {new} new, {updated} updated, {len(broken)} failed"
    return failed(line) if reports and len(broken) == len(reports) else ok(line)


# -- sending ------------------------------------------------------------------------------


def _send(ctx: JobContext, number: int) -> tuple[bool, str]:
    """Send (or continue) issue `number`; (went well, one line)."""
    from digest.send import send_issue
    from digest.send.policy import counts_line

    report = send_issue(ctx.db, ctx.settings, ctx.clock, relay=ctx.relay, number=number, stop=STOP)
    line = f"issue #{number} {report.status}: {counts_line(report.counts) or 'no deliveries'}"
    if report.resumed:
        line += f"; {report.resumed} interrupted on the wire resent"
    if report.breaker:
        return False, f"{line}; paused: {report.breaker}"
    if report.status is IssueStatus.SENDING and report.next_due is not None:
        line += f"; next retry {at(ctx, report.next_due)}"
    return True, line


def _finish_sending(ctx: JobContext) -> tuple[bool, list[str]]:
    """Continue every issue still `sending`, oldest first: what an interrupted send left,
    and deferred deliveries whose retry fell due. (all went well, one line each)."""
    good, lines = True, []
    for number in sending_numbers(ctx.db):
        try:
            went, line = _send(ctx, number)
        except SendError as e:
            # An issue already going out fails only on its lease: another run sends it.
            went, line = True, f"issue #{number}: {e}"
        except DigestError as e:
            went, line = False, f"issue #{number}: {e}"
        good &= went
        lines.append(line)
        (log.info if went else log.warning)("send: %s", line)
    return good, lines


def deliveries_job(ctx: JobContext) -> JobResult:
    """Continue unfinished sends: retries that fell due and rows an interrupted run left.
    A send never waits long for a retry, so this job is what carries retries for days.
    It also sends the confirmation mails `digest serve` queued (the outbox)."""
    from digest.send.outbox import send_outbox

    outbox = send_outbox(ctx.db, ctx.relay, ctx.clock, stop=STOP)
    if outbox.sent or outbox.failed or outbox.given_up:
        (log.info if not outbox.unreachable else log.warning)("%s", outbox.line)
    if not ctx.issue_lock.acquire(blocking=False):
        return skipped("the weekly or proof job of this daemon is at work; it finishes sends first")
    try:
        good, lines = _finish_sending(ctx)
    finally:
        ctx.issue_lock.release()
    if not lines:
        return ok("no issue is sending")
    return ok("; ".join(lines)) if good else failed("; ".join(lines))


# -- the weekly issue ---------------------------------------------------------------------


def week_state(ctx: JobContext, now: datetime) -> WeekState:
    slot = week_slot(send_trigger(ctx.settings), now)
    issue = None if slot is None else issue_for_week(ctx.db, slot)
    return WeekState(
        slot=slot,
        handled_at=last_started(ctx.db, JobName.WEEKLY, JobOutcome.OK, JobOutcome.SKIPPED),
        issue_status=None if issue is None else issue.status,
    )


def weekly_decision(ctx: JobContext, now: datetime) -> tuple[WeekState, CatchUp]:
    """This week's slot and whether the weekly job runs for it now (the catch-up rule)."""
    state = week_state(ctx, now)
    grace = timedelta(hours=ctx.settings.schedule.catch_up_hours)
    return state, catch_up(state, now, grace)


def _issue_for_slot(ctx: JobContext, slot: datetime) -> WeekIssue | JobResult:
    """The issue of weekly time `slot`: the one made for it already (at proof time, or by an
    earlier run), else the draft composed (or refreshed) now and claimed for it. A result
    instead when there is none to send: a held draft, or too few items."""
    for attempt in range(CLAIM_ATTEMPTS):
        found = issue_for_week(ctx.db, slot)
        if found is not None:
            return found
        draft = draft_for_week(ctx.db)
        if draft is not None and draft.held_at is not None:
            return skipped(
                f"week of {at(ctx, slot)}: draft #{draft.number} is held, so no issue was "
                f"composed (`digest issue hold --undo {draft.number}` releases it)"
            )
        try:
            if draft is None or draft.approved_at is None:
                # An approved draft goes as the editor approved it; any other is refreshed.
                from digest.compose import compose_issue

                issue_id = compose_issue(ctx.db, ctx.settings, ctx.clock).id
            else:
                issue_id = draft.id
            return claim_week(ctx.db, issue_id, slot)
        except ComposeError as e:
            if not isinstance(e, NotADraft) and issue_for_week(ctx.db, slot) is None:
                return skipped(f"week of {at(ctx, slot)}: {e}")
            error: DigestError = e
        except StorageError as e:
            error = e
        # Another run made, claimed or began sending the week's issue meanwhile (the
        # database refused this one): look again, and find that run's issue.
        if attempt == CLAIM_ATTEMPTS - 1:
            raise error
        log.info("week of %s: another run made its issue meanwhile, looking again", slot)
    raise AssertionError("unreachable")


def weekly_job(ctx: JobContext) -> JobResult:
    """First finish any issue still `sending`; then, for this week's slot (the latest
    schedule.send_cron time), compose the issue unless one was made for it, let the
    approval gate decide, and send it. A week too late to catch up is skipped, once."""
    with ctx.issue_lock:
        good, lines = _finish_sending(ctx)
        now = ctx.clock()
        state, decision = weekly_decision(ctx, now)
        slot = state.slot
        if slot is None:
            result = ok("no weekly time has come yet")
        elif decision is CatchUp.DONE:
            result = ok(f"week of {at(ctx, slot)} was handled already")
        elif decision is CatchUp.SKIP:
            hours = (now - slot).total_seconds() / 3600
            result = skipped(
                f"week of {at(ctx, slot)} skipped: {hours:.1f} h late, past "
                f"schedule.catch_up_hours ({ctx.settings.schedule.catch_up_hours:g})"
            )
        else:
            result = _weekly_send(ctx, slot)
    if lines:
        line = f"{'; '.join(lines)}; {result.line}"
        result = JobResult(outcome=result.outcome if good else JobOutcome.FAILED, line=line)
    return result


def _weekly_send(ctx: JobContext, slot: datetime) -> JobResult:
    issue = _issue_for_slot(ctx, slot)
    if isinstance(issue, JobResult):
        return issue
    week = f"week of {at(ctx, slot)}"
    if issue.status is not IssueStatus.DRAFT:
        return ok(f"{week}: issue #{issue.number} is {issue.status} already")
    verdict = gate(
        held=issue.held_at is not None,
        approved=issue.approved_at is not None,
        require_approval=ctx.settings.schedule.require_approval,
    )
    if verdict is Gate.HELD:
        return skipped(
            f"{week}: issue #{issue.number} is held, not sent; send it by hand with "
            f"`digest issue send -n {issue.number}`, or release it with "
            f"`digest issue hold --undo {issue.number}`"
        )
    if verdict is Gate.UNAPPROVED:
        return skipped(
            f"{week}: issue #{issue.number} is not approved (schedule.require_approval), "
            f"not sent; `digest issue approve {issue.number}`, then "
            f"`digest issue send -n {issue.number}`"
        )
    try:
        went, line = _send(ctx, issue.number)
    except SendError as e:
        # A draft's send fails on its checks (it stays a draft: failed), or on the send
        # lease, taken by another run that sends it now (skipped: that run reports it).
        record = send_record(ctx.db, issue.id, since=ctx.clock(), latest=0)
        if record.owner is not None or record.started_at is not None:
            return skipped(f"{week}: issue #{issue.number} is sent by another run: {e}")
        return failed(f"{week}: {e}")
    return ok(f"{week}: {line}") if went else failed(f"{week}: {line}")


# -- the proof ------------------------------------------------------------------------------


def proof_job(ctx: JobContext) -> JobResult:
    """Compose the issue of the coming weekly time and mail a proof to schedule.editors,
    schedule.proof_hours_before ahead; once per week."""
    cfg = ctx.settings.schedule
    before = timedelta(hours=cfg.proof_hours_before)
    now = ctx.clock()
    trigger = EarlierTrigger(send_trigger(ctx.settings), before)
    slot = proof_slot(previous_fire(trigger, now), before, now)
    if slot is None:
        return ok("no weekly send is coming before the next proof time")
    with ctx.issue_lock:
        issue = _issue_for_slot(ctx, slot)
        if isinstance(issue, JobResult):
            return issue
        week = f"week of {at(ctx, slot)}"
        if issue.status is not IssueStatus.DRAFT:
            return ok(f"{week}: issue #{issue.number} is {issue.status} already")
        if issue.proof_sent_at is not None:
            return ok(f"{week}: the proof of issue #{issue.number} was sent already")
        return _mail_proofs(ctx, issue.id, issue.number, week)


def _mail_proofs(ctx: JobContext, issue_id: int, number: int, week: str) -> JobResult:
    from digest.db.issues import latest_issue
    from digest.send.proof import send_proof

    editors = ctx.settings.schedule.editors
    if not editors:
        return ok(f"{week}: issue #{number} composed; no schedule.editors to mail a proof to")
    stored = latest_issue(ctx.db, number)
    sent, problems = 0, []
    for address in editors:
        try:
            send_proof(stored, ctx.settings, address, ctx.clock(), ctx.relay)
            sent += 1
        except DigestError as e:
            problems.append(str(e))
            log.warning("proof: %s", e)
    if sent:
        mark_proof_sent(ctx.db, issue_id, ctx.clock())
    line = f"{week}: proof of issue #{number} mailed to {sent} of {len(editors)} editor(s)"
    if problems:
        line += f"; {'; '.join(problems)}"
    return ok(line) if sent else failed(line)


# -- bounces and housekeeping ----------------------------------------------------------------


def bounces_job(ctx: JobContext) -> JobResult:
    """Ingest the configured bounce mailboxes (bounces.imap_host, bounces.maildir)."""
    from digest.bounces.ingest import IngestRun, ingest_imap, ingest_maildir
    from digest.bounces.process import Processed, process_message

    settings, cfg = ctx.settings, ctx.settings.bounces

    def process(raw: bytes, channel: str) -> Processed:
        return process_message(ctx.db, settings, raw, channel=channel, now=ctx.clock())

    run = IngestRun(echo=lambda line: log.info("bounces: %s", line))
    if not (cfg.imap_host or cfg.maildir):
        return ok("no bounce mailbox is configured")
    if cfg.imap_host:
        ingest_imap(cfg, process, run)
    if cfg.maildir:
        ingest_maildir(settings.base_dir / Path(cfg.maildir).expanduser(), process, run)
    line = run.summary
    if run.problems:
        line += f"; {'; '.join(run.problems)}"
    return ok(line) if run.ok else failed(line)


def housekeeping_job(ctx: JobContext) -> JobResult:
    """Expire past events and closed calls, remove signups never confirmed, prune raw
    bounces past bounces.keep_days, job runs past JOB_RUNS_KEEP_DAYS and the web pages' mail
    once done for a day (the daily cap looks back one day)."""
    from digest.db.bounces import prune
    from digest.db.items import expire_items
    from digest.db.jobs import prune_runs
    from digest.db.outbox import prune_outbox
    from digest.db.subscribers import purge_unconfirmed

    now, settings = ctx.clock(), ctx.settings
    expired = expire_items(ctx.db, now)
    purged = purge_unconfirmed(ctx.db, now - timedelta(hours=settings.web.confirm_max_age_hours))
    bounces = prune(ctx.db, now, settings.bounces.keep_days)
    runs = prune_runs(ctx.db, now - timedelta(days=JOB_RUNS_KEEP_DAYS))
    mails = prune_outbox(ctx.db, now - timedelta(days=1))
    return ok(
        f"{expired} item(s) expired, {purged} unconfirmed signup(s) removed, "
        f"{bounces} raw bounce(s), {runs} job run(s) and {mails} sent mail(s) pruned"
    )


JOBS: dict[JobName, Callable[[JobContext], JobResult]] = {
    JobName.COLLECT: collect_job,
    JobName.PROOF: proof_job,
    JobName.WEEKLY: weekly_job,
    JobName.DELIVERIES: deliveries_job,
    JobName.BOUNCES: bounces_job,
    JobName.HOUSEKEEPING: housekeeping_job,
}
