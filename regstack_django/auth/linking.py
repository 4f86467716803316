"""The Django user of a regstack user: found by ``RegStackIdentity``, created once, kept in step."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from regstack_django.auth import rules

logger = logging.getLogger("regstack_django.auth")


def _identities() -> Any:
    from regstack_django.models import RegStackIdentity

    return RegStackIdentity.objects


def linked_user(regstack_id: str) -> Any:
    """Return the Django user linked to ``regstack_id``, or ``None``."""
    identity = _identities().select_related("user").filter(regstack_id=regstack_id).first()
    return None if identity is None else identity.user


def user_for(regstack_user: Any, *, create: bool | None = None) -> Any:
    """Return the linked Django user, created if the rules allow and none is linked yet.

    Two concurrent first requests make one user: the unique ``regstack_id`` refuses the
    second insert, which then reads the winner's row.
    """
    regstack_id = str(regstack_user.id)
    user = linked_user(regstack_id)
    current = rules.current()
    if user is None and (current.create if create is None else create):
        user = _create(regstack_user, current)
    if user is not None:
        _sync_flags(user, regstack_user, current)
    return user


def _fields(regstack_user: Any, current: rules.UserRules) -> dict[str, Any]:
    model = get_user_model()
    username = (
        regstack_user.email if current.username == "email" else f"regstack-{regstack_user.id}"
    )
    fields = {model.USERNAME_FIELD: username}
    if current.email:
        fields[model.get_email_field_name()] = regstack_user.email
    for flag, targets in current.flags.items():
        for target in targets:
            fields[target] = bool(getattr(regstack_user, flag, False))
    return fields


def _create(regstack_user: Any, current: rules.UserRules) -> Any:
    model = get_user_model()
    regstack_id = str(regstack_user.id)
    try:
        with transaction.atomic():
            user = model(**_fields(regstack_user, current))
            user.set_unusable_password()
            user.save()
            _identities().create(user=user, regstack_id=regstack_id)
            return user
    except IntegrityError:
        user = linked_user(regstack_id)
        if user is None:  # the username belongs to a Django user linked to no one
            logger.warning(
                "regstack user %s not linked: its %s is taken by a Django user; link them "
                "by hand with RegStackIdentity if they are the same person",
                regstack_id,
                model.USERNAME_FIELD,
            )
        return user


def _sync_flags(user: Any, regstack_user: Any, current: rules.UserRules) -> None:
    changed = []
    for flag, targets in current.flags.items():
        wanted = bool(getattr(regstack_user, flag, False))
        for target in targets:
            if getattr(user, target) != wanted:
                setattr(user, target, wanted)
                changed.append(target)
    if changed:
        user.save(update_fields=changed)


def email_changed(regstack_user: Any) -> None:
    """Copy regstack's new e-mail to the linked user (and its username, when that is the e-mail)."""
    user = linked_user(str(regstack_user.id))
    current = rules.current()
    if user is None:
        return
    model = type(user)
    fields = []
    if current.email:
        fields.append(model.get_email_field_name())
    if current.username == "email" and model.USERNAME_FIELD not in fields:
        fields.append(model.USERNAME_FIELD)
    for name in fields:
        setattr(user, name, regstack_user.email)
    if fields:
        user.save(update_fields=fields)


def user_deleted(regstack_id: str) -> None:
    """Deactivate or delete the linked user, as ``on_delete`` says."""
    user = linked_user(regstack_id)
    if user is None:
        return
    if rules.current().on_delete == "delete":
        user.delete()
    else:
        user.is_active = False
        user.save(update_fields=["is_active"])
