"""`digest issue lint`: the checks of digest.lint, and SpamAssassin's score, on the
issue as a sample subscriber receives it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from digest.cli.app import App, echo_json, pass_app

if TYPE_CHECKING:
    from digest.lint import LintReport
    from digest.lint.contrast import TextSample
    from digest.lint.spam import SpamReport


def report_lines(report: LintReport) -> list[str]:
    """One line per finding, errors first."""
    ordered = sorted(report.findings, key=lambda f: f.level != "error")
    return [finding.line for finding in ordered]


@click.command("lint")
@click.option("--number", "-n", type=int, help="Issue number (default: the newest).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option(
    "--spam",
    is_flag=True,
    help="Also run SpamAssassin (local tests only) on the sample message and show its score.",
)
@click.option(
    "--contrast",
    is_flag=True,
    help="Also measure the WCAG contrast of every text in light and dark mode, in headless "
    "Chromium (which must be installed).",
)
@pass_app
def issue_lint(app: App, number: int | None, as_json: bool, spam: bool, contrast: bool) -> None:
    """Check the issue as a subscriber receives it: size against Gmail's clipping, alt text,
    links, empty sections, HTML and CSS that major email clients lack (caniemail.com data).

    Exits with status 1 when a check finds an error; warnings do not fail. With --spam, a
    score above 0 is a warning and a score at SpamAssassin's spam threshold an error. With
    --contrast, a text under 4.5:1 against its background (3:1 for large text) in light or
    dark mode is an error.
    """
    from digest.db.issues import latest_issue
    from digest.lint import lint_issue
    from digest.lint.spam import spam_check, spam_findings
    from digest.send.sample import preview_message

    row = latest_issue(app.db, number)
    message = preview_message(row, app.settings, app.clock())
    report = lint_issue(message.html, message.text, base_url=app.settings.newsletter.base_url)
    spam_report: SpamReport | None = None
    if spam:
        spam_report = spam_check(message.raw)
        report = report.with_findings(spam_findings(spam_report))
    lowest: dict[str, TextSample | None] = {}
    if contrast:
        from digest.lint.contrast import check_contrast

        contrast_found, lowest = check_contrast(message.html)
        report = report.with_findings(contrast_found)
    if as_json:
        echo_json(
            {
                "issue": row.number,
                "status": row.status,
                **report.as_dict(),
                "spam": spam_json(spam_report) if spam else None,
                "contrast": contrast_json(lowest) if contrast else None,
            }
        )
    else:
        for line in report_lines(report):
            click.echo(line)
        if spam_report is not None:
            click.echo(spam_report.line)
            for rule in spam_report.rules:
                click.echo(f"  {rule.points:5.1f} {rule.name}: {rule.description}")
        for mode, sample in lowest.items():
            click.echo(lowest_line(mode, sample))
        click.echo(f"issue #{row.number} ({row.status}): {report.summary}")
    if not report.ok:
        raise SystemExit(1)


def spam_json(report: SpamReport | None) -> dict[str, object]:
    from digest.lint.spam import NOT_INSTALLED

    if report is None:
        return {"available": False, "note": NOT_INSTALLED}
    return {
        "available": True,
        "score": report.score,
        "required": report.required,
        "command": report.command,
        "version": report.version,
        "rules": [
            {"name": r.name, "points": r.points, "description": r.description} for r in report.rules
        ],
    }


def lowest_line(mode: str, sample: TextSample | None) -> str:
    if sample is None:
        return f"contrast: {mode} mode: no visible text"
    return (
        f"contrast: {mode} mode: lowest {sample.ratio:.2f}:1, {sample.color.css} on "
        f"{sample.background.css}: {sample.text[:60]!r}"
    )


def contrast_json(lowest: dict[str, TextSample | None]) -> dict[str, object]:
    return {
        mode: None
        if sample is None
        else {
            "lowest_ratio": round(sample.ratio, 2),
            "color": sample.color.css,
            "background": sample.background.css,
            "text": sample.text,
        }
        for mode, sample in lowest.items()
    }
