"""`digest bounces classify`: one JSON line per file or standard input, no settings needed,
VERP tokens checked with the settings' keys when there are some."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.send.verp import envelope_sender
from tests.support.clock import fixed
from tests.support.keys import TEST_SECRET_KEY

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    monkeypatch.delenv("DIGEST_SECURITY_SECRET_KEY", raising=False)
    return tmp_path


def pick(kind: str) -> Path:
    expected: dict[str, dict[str, object]] = json.loads(
        (FIXTURES / "expected.json").read_text(encoding="utf-8")
    )
    name = next(n for n, e in sorted(expected.items()) if e["kind"] == kind and e["recipients"])
    return FIXTURES / name


def test_files_give_one_json_line_each_without_settings(workdir: Path) -> None:
    hard, complaint = pick("hard"), pick("complaint")
    result = CliRunner().invoke(cli, ["bounces", "classify", str(hard), str(complaint)], obj=fixed)
    assert result.exit_code == 0, result.output
    first, second = lines(result.output)
    assert set(first) == {"file", "is_bounce", "recipients", "kind", "reason", "status"}
    assert (first["file"], first["kind"], first["is_bounce"]) == (str(hard), "hard", True)
    assert second["kind"] == "complaint"


def test_standard_input_is_read_for_a_dash(workdir: Path) -> None:
    raw = pick("soft").read_bytes()
    result = CliRunner().invoke(cli, ["bounces", "classify", "-"], input=raw, obj=fixed)
    assert result.exit_code == 0, result.output
    (line,) = lines(result.output)
    assert (line["file"], line["kind"]) == ("-", "soft")


def test_a_missing_file_is_an_error_line_and_the_rest_is_classified(workdir: Path) -> None:
    hard = pick("hard")
    result = CliRunner().invoke(
        cli, ["bounces", "classify", str(workdir / "nope.eml"), str(hard)], obj=fixed
    )
    assert result.exit_code == 1
    assert "nope.eml" in result.stderr
    assert [line["file"] for line in lines(result.stdout)] == [str(hard)]


def test_verp_tokens_are_checked_with_the_configured_key(workdir: Path) -> None:
    (workdir / "digest.toml").write_text(
        f'[security]\nsecret_key = "{TEST_SECRET_KEY}"\n', encoding="utf-8"
    )
    sender = envelope_sender("bounces@example.org", 99, [TEST_SECRET_KEY])
    message = workdir / "bounce.eml"
    shutil.copy(pick("hard"), message)
    message.write_bytes(f"Delivered-To: {sender}\n".encode() + message.read_bytes())
    result = CliRunner().invoke(cli, ["bounces", "classify", str(message)], obj=fixed)
    assert result.exit_code == 0, result.output
    (line,) = lines(result.output)
    assert line["delivery_id"] == 99
