"""Settings: validated once, each bad value explained in one line, URLs in their usual spellings accepted."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from fireflow.hub.run.config import Settings, SettingsError, address
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        for variable in Settings.env_names(name):
            monkeypatch.delenv(variable, raising=False)


@pytest.mark.parametrize(
    "url",
    ["postgres://u:pw@db:5432/ff", "postgresql://u:pw@db:5432/ff", "postgresql+asyncpg://u:pw@db:5432/ff"],
)
def test_database_url_in_any_usual_spelling_becomes_the_asyncpg_one(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """postgres://, postgresql:// and postgresql+asyncpg:// DATABASE_URLs all reach asyncpg."""
    monkeypatch.setenv("DATABASE_URL", url)
    assert Settings.from_env().database_url == "postgresql+asyncpg://u:pw@db:5432/ff"


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("FIREFLOW_DURABLE", "proces", "FIREFLOW_DURABLE=proces: must be one of process, inline, off"),
        ("FIREFLOW_QUEUE_LIMIT", "-1", "FIREFLOW_QUEUE_LIMIT=-1: must be a whole number above 0"),
        ("FIREFLOW_REDIS_POOL", "0", "FIREFLOW_REDIS_POOL=0: must be a whole number above 0"),
        ("FIREFLOW_REDIS_REPLICAS", "-1", "FIREFLOW_REDIS_REPLICAS=-1: must be a whole number, at least 0"),
        ("FIREFLOW_HEARTBEAT", "soon", "FIREFLOW_HEARTBEAT=soon: must be a number above 0"),
        ("PORT", "80000", "PORT=80000: must be a whole number from 1 to 65535"),
        ("FIREFLOW_REDIS_FSYNC", "sometimes", "FIREFLOW_REDIS_FSYNC=sometimes: must be one of everysec, always"),
        ("FIREFLOW_WS_COMPRESSION", "maybe", "FIREFLOW_WS_COMPRESSION=maybe: must be 1 or 0"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL=localhost:6379: must be redis://"),
        ("DATABASE_URL", "mysql://u:hunter2@db/ff", "DATABASE_URL=mysql://u:***@db/ff: must be postgresql://"),
        (
            "ERPNEXT_MODES",
            "CASH=Cash,BITCOIN=Crypto",
            "ERPNEXT_MODES=CASH=Cash,BITCOIN=Crypto: 'BITCOIN' is not a tender",
        ),
        ("ERPNEXT_MODES", "CASH", "ERPNEXT_MODES=CASH: 'CASH' is not METHOD=Mode"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_variable_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    """Each nonsense value is refused with one line: the variable, the value (no password) and what it accepts."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        Settings.from_env()
    assert len(err.value.lines) == 1
    assert err.value.lines[0].startswith(line)


def test_a_bad_flag_is_named_as_the_flag() -> None:
    """A value given as a flag is blamed on the flag, not on an environment variable."""
    with pytest.raises(SettingsError) as err:
        Settings.from_env(port=0)
    assert err.value.lines == ["--port=0: must be a whole number from 1 to 65535"]


@pytest.mark.parametrize(("value", "mode"), [("1", "process"), ("true", "process"), ("0", "off"), ("INLINE", "inline")])
def test_durable_accepts_its_old_spellings(monkeypatch: pytest.MonkeyPatch, value: str, mode: str) -> None:
    """FIREFLOW_DURABLE keeps accepting 1/true/0 and any case."""
    monkeypatch.setenv("FIREFLOW_DURABLE", value)
    assert Settings.from_env().durable_mode == mode


def test_with_validates_changes_and_refuses_unknown_names() -> None:
    """with_() validates what it changes, keeps a field given None, and refuses a name that is no setting."""
    settings = Settings().with_(queue_limit=8, port=None)
    assert (settings.queue_limit, settings.port) == (8, 8000)
    with pytest.raises(ValidationError):
        settings.with_(queue_limit=0)
    with pytest.raises(TypeError):
        settings.with_(queue_limt=8)


def test_addresses_in_messages_carry_no_password() -> None:
    """The address printed for a server is host, port and database, without user or password."""
    assert address("postgresql+asyncpg://u:pw@db.example:5432/ff") == "db.example:5432/ff"
    assert address("redis://:pw@127.0.0.1:6379/0") == "127.0.0.1:6379/0"


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    """README's Configuration table names every environment variable a setting reads."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    wanted = {variable for name in Settings.model_fields for variable in Settings.env_names(name)}
    assert wanted - documented == set()


def test_settings_handed_to_the_background_process_as_its_environment_are_the_same(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """as_env makes the same settings again: flags, the secret read from the data directory, booleans, paths."""
    for name in list(os.environ):
        if name.startswith(("FIREFLOW_", "ERPNEXT_", "ARCHIVE_", "S3_")) or name in (
            "REDIS_URL",
            "DATABASE_URL",
            "PORT",
        ):
            monkeypatch.delenv(name)
    settings = Settings.from_env(
        data_dir=tmp_path,
        secret="s3cret",
        port=8123,
        outbox=False,
        durable="inline",
        redis_url="redis://127.0.0.1:7000/0",
        database_url="postgresql://u:p@127.0.0.1:5433/ff",
        erpnext_modes="CASH=Cash",
    )
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    again = Settings.from_env()
    assert again == settings
    assert again.public_base_url.endswith(":8123")  # the node's own port: the links it prints
