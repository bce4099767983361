"""A line's modifier choices checked against its menu item, and snapshotted onto the line.

The item's groups say what may be chosen: a required group needs at least one
option, none more than ``max_choices``, and only the item's own groups and
options exist. The line keeps the names and price deltas as they were, so a
later menu change leaves it as ordered; choices come back in the menu's group
and option order whatever order the command listed them in, so two terminals
choosing the same things make the same line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fireflow.hub.domain.errors import DomainError
from fireflow.schema.protocol import ErrorCode
from fireflow.schema.records import LineModifier, MenuItem

__all__ = ["chosen"]


def _refuse(item: MenuItem, message: str, group: str | None) -> DomainError:
    details = {"menu_item_id": item.id} | ({"group": group} if group else {})
    return DomainError(ErrorCode.INVALID_MODIFIERS, f"{item.name}: {message}", details)


def chosen(item: MenuItem, choices: Mapping[str, Sequence[str]]) -> tuple[LineModifier, ...]:
    """The line's modifiers for ``choices`` (group id -> option ids); refuses what the item does not allow."""
    groups = {group.id: group for group in item.modifiers}
    unknown = [group_id for group_id in choices if group_id not in groups]
    if unknown:
        raise _refuse(item, f"has no choice {unknown[0]!r}", unknown[0])
    picked: list[LineModifier] = []
    for group in item.modifiers:
        wanted = list(choices.get(group.id, ()))
        if len(set(wanted)) != len(wanted):
            raise _refuse(item, f"{group.name}: an option is chosen twice", group.id)
        options = {option.id: option for option in group.options}
        strange = [option_id for option_id in wanted if option_id not in options]
        if strange:
            raise _refuse(item, f"{group.name} has no option {strange[0]!r}", group.id)
        if group.required and not wanted:
            raise _refuse(item, f"choose {group.name}", group.id)
        if len(wanted) > group.max_choices:
            raise _refuse(item, f"choose at most {group.max_choices} of {group.name}", group.id)
        picked += [
            LineModifier(group=group.id, group_name=group.name, option=o.id, name=o.name, price_delta=o.price_delta)
            for o in group.options
            if o.id in wanted
        ]
    return tuple(picked)
