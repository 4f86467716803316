"""``attach()``: make a real regstack deliver its events to Django signals.

Wraps that one regstack registry's ``fire``: regstack's own handlers run first,
then the event's Django Signal, through a ``HookRegistry`` whose ``sender`` is
the attached RegStack.
"""

from __future__ import annotations

import threading
from typing import Any

from regstack_django.registry import HookRegistry
from regstack_django.secrets import SECRET_EVENTS, guard

_BRIDGE_ATTRIBUTE = "_regstack_django_bridge"
_lock = threading.Lock()


def attach(target: Any) -> HookRegistry:
    """Bridge ``target`` (a ``regstack.RegStack`` or its ``HookRegistry``) to Django.

    Return the bridge registry; its ``sender`` is the RegStack, or the regstack
    registry when only that was attached. Attaching the same RegStack twice, or
    a RegStack and then its registry, returns the same bridge: events never
    fire twice. Raise ``ImproperlyConfigured`` if the app is not installed.
    """
    from regstack_django.installed import app_config

    app_config("attach()")
    try:
        from regstack import RegStack
        from regstack.hooks.events import HookRegistry as RegstackHookRegistry
    except ImportError:
        raise TypeError(
            f"attach() takes a regstack.RegStack or its HookRegistry, not {target!r}; "
            "regstack is not installed (pip install 'regstack-django[regstack]')."
        ) from None
    if isinstance(target, RegStack):
        hooks, sender = target.hooks, target
    elif isinstance(target, RegstackHookRegistry):
        hooks, sender = target, target
    else:
        raise TypeError(
            "attach() takes a regstack.RegStack or a regstack.hooks.events.HookRegistry, "
            f"not {type(target).__module__}.{type(target).__qualname__}."
        )
    with _lock:
        bridge: HookRegistry | None = hooks.__dict__.get(_BRIDGE_ATTRIBUTE)
        if bridge is not None:
            if sender is target and isinstance(target, RegStack):
                bridge.sender = target
            return bridge
        bridge = HookRegistry(sender=sender)
        regstack_fire = hooks.fire

        async def fire(event: str, /, **kwargs: Any) -> None:
            kwargs = guard(kwargs) if event in SECRET_EVENTS else kwargs
            await regstack_fire(event, **kwargs)
            await bridge.fire(event, **kwargs)

        hooks.fire = fire
        setattr(hooks, _BRIDGE_ATTRIBUTE, bridge)
        return bridge
