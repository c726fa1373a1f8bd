"""`digest issue hold` and `digest issue approve`: the approval gate of the weekly send."""

from __future__ import annotations

import click

from digest.cli.app import App, pass_app


@click.command("hold")
@click.argument("number", type=int)
@click.option("--undo", is_flag=True, help="Release the hold: the weekly send may take it.")
@pass_app
def issue_hold(app: App, number: int, undo: bool) -> None:
    """Keep draft NUMBER from going out with the weekly send; it stays a draft.

    A held issue is reported by the scheduler, not lost: send it by hand with
    `digest issue send -n NUMBER`, or release it with --undo.
    """
    from digest.db.weeks import set_held

    set_held(app.db, number, None if undo else app.clock())
    if undo:
        click.echo(f"issue #{number} is no longer held: the weekly send takes it")
    else:
        click.echo(
            f"issue #{number} is held: the weekly send skips it (release it with "
            f"`digest issue hold --undo {number}`, or send it by hand with "
            f"`digest issue send -n {number}`)"
        )


@click.command("approve")
@click.argument("number", type=int)
@click.option("--undo", is_flag=True, help="Withdraw the approval.")
@pass_app
def issue_approve(app: App, number: int, undo: bool) -> None:
    """Approve draft NUMBER for the weekly send (needed with schedule.require_approval).

    An approved draft is sent as it is: the weekly job no longer refreshes it from the
    queue. After the send time has passed, send it by hand: `digest issue send -n NUMBER`.
    """
    from digest.db.weeks import set_approved

    issue = set_approved(app.db, number, None if undo else app.clock())
    if undo:
        click.echo(f"issue #{number}: approval withdrawn")
        return
    held = " (it is held, too: `digest issue hold --undo` releases it)" if issue.held_at else ""
    click.echo(f"issue #{number} is approved for the weekly send{held}")
