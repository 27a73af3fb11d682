"""Fixtures shared by brooklet's Python tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

import brooklet

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A path for a new brooklet file."""
    return tmp_path / "test.brooklet"


@pytest.fixture
def db(path: Path) -> Iterator[brooklet.Database]:
    """A new file with topic "t" (3 partitions), sends at durability "none" for speed."""
    with brooklet.open(path, durability="none") as database:
        database.create_topic("t", partitions=3)
        yield database


def cli_path() -> Path:
    """The brooklet CLI: $BROOKLET_BIN (CI sets it), else the release build of this tree."""
    named = os.environ.get("BROOKLET_BIN")
    if named:
        found = Path(named)
        assert found.is_file() and os.access(found, os.X_OK), f"BROOKLET_BIN={named} is not an executable"
        return found
    built = REPO / "target" / "release" / "brooklet"
    if built.is_file():
        return built
    on_path = shutil.which("brooklet")
    if on_path:
        return Path(on_path)
    pytest.skip("no brooklet CLI: set BROOKLET_BIN (cargo build --release builds it)")


@pytest.fixture
def cli() -> Path:
    return cli_path()
