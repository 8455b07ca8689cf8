"""The ``modelhooks`` entry point: the app's commands plus those that run workers."""

from __future__ import annotations

from app.cli import cli
from workers.dev import dev

cli.add_command(dev)


def main() -> None:
    cli()
