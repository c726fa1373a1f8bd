"""Settings: defaults, the TOML file, DIGEST_* overrides, errors, the starter file, help."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.settings import (
    CONFIG_ENV,
    SettingDoc,
    documented_settings,
    load_settings,
    starter_file,
)
from tests.support.keys import TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
# Former keys, as long and varied as a key must be.
KEY_A = "former-key-a-" + "abcdefghijklmnopqrstuvwxyz0123456789"
KEY_B = "former-key-b-" + "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210"
ALL_SETTINGS = list(documented_settings())
SECTION_NAMES = list(dict.fromkeys(doc.section for doc in ALL_SETTINGS))


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run every test in an empty folder, so a ./digest.toml lying around is never read."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def write(tmp_path: Path, text: str, name: str = "settings.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_without_a_file() -> None:
    settings = load_settings(None, env={})
    assert settings.source is None
    assert settings.smtp.port == 8025
    assert settings.smtp.host == "127.0.0.1"
    assert settings.compose.max_news == 8
    assert settings.database.auto_upgrade is True
    assert settings.security.old_secret_keys == []
    assert settings.newsletter.timezone == "UTC"
    assert settings.base_dir == Path.cwd()


def test_values_come_from_the_toml_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[smtp]\nport = 2525\nhost = "mail.example.org"\ntimeout_seconds = 12\n'
        '[newsletter]\nname = "Weekly"\n'
        f'[security]\nold_secret_keys = ["{KEY_A}", "{KEY_B}"]\n',
    )
    settings = load_settings(path, env={})
    assert settings.source == path.resolve()
    assert settings.base_dir == tmp_path.resolve()
    assert settings.smtp.port == 2525
    assert settings.smtp.host == "mail.example.org"
    # A whole number in the file is a valid float setting, and becomes a float.
    assert settings.smtp.timeout_seconds == 12.0
    assert isinstance(settings.smtp.timeout_seconds, float)
    assert settings.newsletter.name == "Weekly"
    assert settings.security.old_secret_keys == [KEY_A, KEY_B]
    # What the file does not set keeps its default.
    assert settings.compose.max_news == 8


def test_data_dir_is_relative_to_the_settings_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[workspace]\ndata_dir = "store"\n')
    assert load_settings(path, env={}).data_dir == (tmp_path / "store").resolve()


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[smtp]\nport = 2525\nhost = "file.example.org"\n')
    settings = load_settings(path, env={"DIGEST_SMTP_PORT": "587"})
    assert settings.smtp.port == 587
    assert settings.smtp.host == "file.example.org"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        (" True ", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
    ],
)
def test_bool_from_an_environment_string(text: str, expected: bool) -> None:
    settings = load_settings(None, env={"DIGEST_DATABASE_AUTO_UPGRADE": text})
    assert settings.database.auto_upgrade is expected


def test_numbers_and_lists_from_environment_strings() -> None:
    settings = load_settings(
        None,
        env={
            "DIGEST_COMPOSE_MAX_NEWS": " 3 ",
            "DIGEST_SMTP_RATE_PER_SECOND": "2.5",
            "DIGEST_SMTP_TIMEOUT_SECONDS": "7",
            "DIGEST_SECURITY_OLD_SECRET_KEYS": f"{KEY_A} , {KEY_B}",
            "DIGEST_NEWSLETTER_NAME": "  Spaced Name ",
        },
    )
    assert settings.compose.max_news == 3
    assert settings.smtp.rate_per_second == 2.5
    assert settings.smtp.timeout_seconds == 7.0
    assert isinstance(settings.smtp.timeout_seconds, float)
    assert settings.security.old_secret_keys == [KEY_A, KEY_B]
    # Strings are taken as they are.
    assert settings.newsletter.name == "  Spaced Name "


@pytest.mark.parametrize(
    ("name", "value", "setting"),
    [
        ("DIGEST_DATABASE_AUTO_UPGRADE", "maybe", "database.auto_upgrade"),
        ("DIGEST_SMTP_PORT", "abc", "smtp.port"),
        ("DIGEST_SMTP_PORT", "25.5", "smtp.port"),
        ("DIGEST_SMTP_RATE_PER_SECOND", "fast", "smtp.rate_per_second"),
    ],
)
def test_environment_strings_that_do_not_convert(name: str, value: str, setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={name: value})
    message = str(caught.value)
    assert "environment" in message
    assert setting in message
    assert repr(value) in message


def test_unknown_key_in_the_file_names_the_file_and_the_close_match(tmp_path: Path) -> None:
    path = write(tmp_path, "[smtp]\nprot = 25\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    message = str(caught.value)
    assert str(path) in message
    assert "smtp.prot" in message
    assert "did you mean smtp.port?" in message


def test_unknown_section_in_the_file_names_the_file_and_the_close_match(tmp_path: Path) -> None:
    path = write(tmp_path, "[smpt]\nport = 25\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    message = str(caught.value)
    assert str(path) in message
    assert "[smpt]" in message
    assert "did you mean [smtp]?" in message


def test_a_section_that_is_not_a_table_is_reported_as_such(tmp_path: Path) -> None:
    path = write(tmp_path, "smtp = 25\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    message = str(caught.value)
    assert str(path) in message
    assert "[smtp]" in message
    # The section exists: suggesting it to itself would only confuse.
    assert "did you mean" not in message


def test_unknown_environment_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"DIGEST_SMTP_PROT": "25"})
    message = str(caught.value)
    assert "DIGEST_SMTP_PROT" in message
    assert "DIGEST_SMTP_PORT" in message


def test_environment_variables_without_the_prefix_are_ignored() -> None:
    settings = load_settings(None, env={"SMTP_PORT": "1", "HOME": "/root", "DIGESTX": "1"})
    assert settings.smtp.port == 8025


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[smtp\nport = 25\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    message = str(caught.value)
    assert str(path) in message
    assert "not valid TOML" in message
    assert "line 1" in message


@pytest.mark.parametrize(
    ("text", "setting"),
    [
        ('[smtp]\nport = "x"\n', "smtp.port"),
        ("[smtp]\nport = true\n", "smtp.port"),
        ("[compose]\nmax_news = 2.5\n", "compose.max_news"),
        ("[database]\nauto_upgrade = 1\n", "database.auto_upgrade"),
        ("[newsletter]\nname = 5\n", "newsletter.name"),
        ("[smtp]\nrate_per_second = false\n", "smtp.rate_per_second"),
        ("[security]\nold_secret_keys = [1, 2]\n", "security.old_secret_keys"),
        ('[newsletter]\nname = ["a"]\n', "newsletter.name"),
    ],
)
def test_wrong_types_in_the_file(tmp_path: Path, text: str, setting: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    message = str(caught.value)
    assert str(path) in message
    assert setting in message
    assert "expected" in message


@pytest.mark.parametrize("setting", ["newsletter.timezone", "schedule.timezone"])
def test_unknown_time_zone(tmp_path: Path, setting: str) -> None:
    section, key = setting.split(".")
    path = write(tmp_path, f'[{section}]\n{key} = "Mars/Olympus_Mons"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    message = str(caught.value)
    assert setting in message
    assert "Mars/Olympus_Mons" in message
    assert path.name in message


def test_a_known_time_zone_is_accepted() -> None:
    settings = load_settings(None, env={"DIGEST_NEWSLETTER_TIMEZONE": "Europe/Lisbon"})
    assert settings.newsletter.timezone == "Europe/Lisbon"


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"DIGEST_SMTP_SECURITY": "ssl"}, "smtp.security"),
        ({"DIGEST_SMTP_CONNECTIONS": "0"}, "smtp.connections"),
        ({"DIGEST_SMTP_BREAKER_FAILURES": "0"}, "smtp.breaker_failures"),
        ({"DIGEST_NEWSLETTER_BASE_URL": "example.org"}, "newsletter.base_url"),
    ],
)
def test_values_out_of_range(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(setting)):
        load_settings(None, env=env)


def test_missing_explicit_settings_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing, env={})
    assert str(missing) in str(caught.value)
    assert "not found" in str(caught.value)


def test_digest_config_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[smtp]\nport = 2626\n")
    settings = load_settings(None, env={CONFIG_ENV: str(path)})
    assert settings.source == path.resolve()
    assert settings.smtp.port == 2626


def test_digest_config_pointing_nowhere_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone.toml"
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        load_settings(None, env={CONFIG_ENV: str(missing)})


def test_explicit_file_wins_over_digest_config(tmp_path: Path) -> None:
    chosen = write(tmp_path, "[smtp]\nport = 1111\n", "chosen.toml")
    other = write(tmp_path, "[smtp]\nport = 2222\n", "other.toml")
    settings = load_settings(chosen, env={CONFIG_ENV: str(other)})
    assert settings.smtp.port == 1111


def test_digest_toml_in_the_working_folder_is_read(empty_cwd: Path) -> None:
    write(empty_cwd, "[smtp]\nport = 3333\n", "digest.toml")
    settings = load_settings(None, env={})
    assert settings.smtp.port == 3333
    assert settings.source == (empty_cwd / "digest.toml").resolve()


def test_settings_are_frozen() -> None:
    settings = load_settings(None, env={})
    with pytest.raises(AttributeError):
        settings.smtp.port = 1  # type: ignore[misc]


def test_signing_keys_need_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="secret_key"):
        _ = load_settings(None, env={}).signing_keys
    settings = load_settings(
        None,
        env={
            "DIGEST_SECURITY_SECRET_KEY": TEST_SECRET_KEY,
            "DIGEST_SECURITY_OLD_SECRET_KEYS": f"{KEY_A},{KEY_B}",
        },
    )
    # Oldest first: the last key signs.
    assert settings.signing_keys == [KEY_A, KEY_B, TEST_SECRET_KEY]


def test_starter_file_is_valid_toml_and_loads_back(tmp_path: Path) -> None:
    text = starter_file()
    data = tomllib.loads(text)
    # Every section is there; only the secret key is uncommented, and it is a fresh random one.
    assert list(data) == SECTION_NAMES
    assert {key for table in data.values() for key in table} == {"secret_key"}
    secret = data["security"]["secret_key"]
    assert isinstance(secret, str) and len(secret) >= 32
    assert secret != tomllib.loads(starter_file())["security"]["secret_key"]
    settings = load_settings(write(tmp_path, text), env={})
    assert settings.security.secret_key == secret
    assert settings.smtp.port == 8025


def test_starter_file_has_every_setting_with_its_help() -> None:
    lines = starter_file().splitlines()
    for doc in ALL_SETTINGS:
        assert f"[{doc.section}]" in lines
        assert f"# {doc.help}" in lines, f"{doc.section}.{doc.key}: help line missing"
        assert any(line.startswith((f"# {doc.key} = ", f"{doc.key} = ")) for line in lines), (
            f"{doc.section}.{doc.key}: key missing"
        )


def test_starter_file_defaults_are_valid_toml_when_uncommented(tmp_path: Path) -> None:
    keys = {doc.key for doc in ALL_SETTINGS}
    uncommented = []
    for line in starter_file().splitlines():
        candidate = line.removeprefix("# ")
        if candidate.split(" = ", 1)[0] in keys and " = " in candidate:
            uncommented.append(candidate)
        else:
            uncommented.append(line)
    data = tomllib.loads("\n".join(uncommented))
    for doc in ALL_SETTINGS:
        if (doc.section, doc.key) == ("security", "secret_key"):
            continue
        assert data[doc.section][doc.key] == doc.default, f"{doc.section}.{doc.key}"
    settings = load_settings(write(tmp_path, "\n".join(uncommented)), env={})
    assert settings.newsletter.subject == "{{ name }} #{{ number }} – {{ date }}"


def test_starter_file_overrides_are_written_uncommented(tmp_path: Path) -> None:
    text = starter_file(
        {
            "smtp.port": 2525,
            "newsletter.name": 'The "Quoted" \\ Digest',
            "security.secret_key": TEST_SECRET_KEY,
        }
    )
    settings = load_settings(write(tmp_path, text), env={})
    assert settings.smtp.port == 2525
    assert settings.newsletter.name == 'The "Quoted" \\ Digest'
    assert settings.security.secret_key == TEST_SECRET_KEY


@pytest.mark.parametrize("doc", ALL_SETTINGS, ids=lambda d: f"{d.section}.{d.key}")
def test_every_setting_has_help(doc: SettingDoc) -> None:
    assert doc.help.strip(), f"{doc.section}.{doc.key} has no help"
    assert "\n" not in doc.help
    assert doc.env == f"DIGEST_{doc.section}_{doc.key}".upper()


def test_every_setting_has_a_default_of_its_type() -> None:
    for doc in ALL_SETTINGS:
        if doc.type is float:
            assert isinstance(doc.default, float), doc.key
        elif doc.type in (int, bool, str):
            assert type(doc.default) is doc.type, doc.key
        else:
            assert isinstance(doc.default, list), doc.key


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        f"{doc.section}.{doc.key}"
        for doc in ALL_SETTINGS
        if f"{doc.section}.{doc.key}" not in readme
    ]
    assert not missing, f"settings missing from README.md: {', '.join(missing)}"


def test_a_bad_value_from_the_environment_is_blamed_on_its_variable(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text(f'[security]\nsecret_key = "{TEST_SECRET_KEY}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"DIGEST_NEWSLETTER_TIMEZONE": "Mars/Olympus"})
    message = str(caught.value)
    assert message.startswith("environment variable DIGEST_NEWSLETTER_TIMEZONE: ")
    assert "newsletter.timezone: unknown time zone 'Mars/Olympus'" in message
    assert str(path) not in message


def test_a_bad_value_from_the_file_is_still_blamed_on_the_file(tmp_path: Path) -> None:
    path = tmp_path / "digest.toml"
    path.write_text(
        f'[security]\nsecret_key = "{TEST_SECRET_KEY}"\n[schedule]\ntimezone = "Nowhere/X"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"DIGEST_NEWSLETTER_TIMEZONE": "Europe/Paris"})
    assert str(caught.value).startswith(f"{path.resolve()}: schedule.timezone: ")
