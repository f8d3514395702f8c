"""What stages report and write: JSON, all the way down (printed by the CLI, kept in reports/).

At the bottom of the package: the contract, the registry gate and tracking all speak it."""

from __future__ import annotations

from typing import TypeAlias

Json: TypeAlias = str | int | float | bool | list["Json"] | dict[str, "Json"] | None
Facts: TypeAlias = dict[str, Json]
