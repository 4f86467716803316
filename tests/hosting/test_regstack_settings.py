"""regstack configured in Django settings: ``REGSTACK``, ``REGSTACK_INSTANCE``, ``get_regstack()``.

Each check id of this part (E013-E019, W002-W004) is reported by the check
function under ``override_settings``, the same words are raised by
``get_regstack()``, and one ``call_command("check")`` proves the checks are
registered. No receiver is ever connected here without being disconnected.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from regstack import RegStack

import regstack_django
from regstack_django import signals
from regstack_django.checks import messages
from regstack_django.checks.registered import check_receivers, check_regstack_settings
from regstack_django.hosting.build import default_database_url
from tests import instances
from tests.utils import connected

SECRET = instances.JWT_SECRET
NOT_SQLITE = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES:UserWarning")

#: The ids this module has a case for (tests/checks/test_checks.py adds them to its coverage).
COVERED = frozenset(
    {
        messages.E013,
        messages.E014,
        messages.E015,
        messages.E016,
        messages.E017,
        messages.E018,
        messages.E019,
        messages.W002,
        messages.W003,
        messages.W004,
    }
)


def ids(messages: list[CheckMessage]) -> list[str]:
    return [m.id for m in messages if m.id is not None]


def reported() -> list[CheckMessage]:
    return list(check_regstack_settings())


# --- get_regstack() ------------------------------------------------------------------


def test_get_regstack_builds_one_attached_instance_from_the_setting() -> None:
    rs = regstack_django.get_regstack()
    assert isinstance(rs, RegStack)
    assert regstack_django.get_regstack() is rs
    assert rs.config.jwt_secret.get_secret_value() == SECRET
    assert regstack_django.attach(rs).sender is rs  # already attached: the same bridge


def test_a_changed_setting_gives_a_new_instance_and_the_old_one_comes_back_after() -> None:
    from django.conf import settings

    before = regstack_django.get_regstack()
    with override_settings(REGSTACK={**settings.REGSTACK, "app_name": "Other"}):
        inside = regstack_django.get_regstack()
        assert inside is not before
        assert inside.config.app_name == "Other"
    assert regstack_django.get_regstack().config.app_name == before.config.app_name


@pytest.mark.sqlite_only(reason="the default regstack file sits next to Django's SQLite file")
def test_the_default_database_sits_next_to_django_s_sqlite_file() -> None:
    from django.conf import settings

    url = regstack_django.get_regstack().config.database_url.get_secret_value()
    folder = Path(settings.DATABASES["default"]["NAME"]).resolve().parent
    assert url == f"sqlite+aiosqlite:///{folder / 'regstack.sqlite3'}?timeout=30"


@NOT_SQLITE
def test_without_an_sqlite_database_the_default_is_in_base_dir(tmp_path: Path) -> None:
    databases = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "site"}}
    with override_settings(DATABASES=databases, BASE_DIR=tmp_path):
        assert (
            default_database_url() == f"sqlite+aiosqlite:///{tmp_path}/regstack.sqlite3?timeout=30"
        )
    with override_settings(DATABASES=databases):
        assert default_database_url() is None


def test_regstack_s_own_config_fills_what_the_setting_leaves_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.conf import settings

    monkeypatch.setenv("REGSTACK_APP_NAME", "From the environment")
    monkeypatch.setenv("REGSTACK_JWT_SECRET", SECRET)
    if "database_url" in settings.REGSTACK:  # the PostgreSQL leg: no default location
        monkeypatch.setenv("REGSTACK_DATABASE_URL", settings.REGSTACK["database_url"])
    with override_settings(REGSTACK={}):
        assert regstack_django.get_regstack().config.app_name == "From the environment"
    with override_settings(REGSTACK={"app_name": "From settings"}):
        assert regstack_django.get_regstack().config.app_name == "From settings"


@pytest.mark.parametrize("path", ["tests.instances.instance", "tests.instances.build"])
def test_regstack_instance_names_an_instance_or_a_factory(path: str) -> None:
    with override_settings(REGSTACK=None, REGSTACK_INSTANCE=path):
        rs = regstack_django.get_regstack()
        assert isinstance(rs, RegStack)
        assert rs in instances.BUILT
        assert regstack_django.get_regstack() is rs
        assert reported() == []


def test_not_configured_get_regstack_says_which_settings_to_set() -> None:
    with (
        override_settings(REGSTACK=None),
        pytest.raises(ImproperlyConfigured, match=r"set REGSTACK = \{\.\.\.\}.*REGSTACK_INSTANCE"),
    ):
        regstack_django.get_regstack()


def test_a_configured_regstack_fires_into_django_receivers_without_attach() -> None:
    rs = regstack_django.get_regstack()
    got: list[object] = []
    with connected(signals.user_logged_in, lambda sender, **kwargs: got.append(sender)):
        asyncio.run(rs.hooks.fire("user_logged_in", user=None))
    assert got == [rs]


# --- the checks, one case per id -----------------------------------------------------


def test_a_valid_configuration_reports_nothing() -> None:
    assert reported() == []


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("tests.nowhere.build", "cannot import 'tests.nowhere.build' (ModuleNotFoundError"),
        ("tests.instances.nothing_here", "cannot import 'tests.instances.nothing_here'"),
        (42, "must be a dotted path string, not 42"),
    ],
)
def test_an_unimportable_instance_is_e013_naming_setting_and_path(path: object, words: str) -> None:
    with override_settings(REGSTACK=None, REGSTACK_INSTANCE=path):
        (message,) = reported()
        assert message.id == messages.E013
        assert message.msg.startswith("REGSTACK_INSTANCE ")
        assert words in message.msg
        with pytest.raises(ImproperlyConfigured) as raised:
            regstack_django.get_regstack()
    assert message.msg in str(raised.value)
    assert messages.E013 in str(raised.value)


def test_an_instance_module_that_raises_on_import_is_e013_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "instance_that_raises.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with override_settings(REGSTACK=None, REGSTACK_INSTANCE="instance_that_raises.build"):
        (message,) = reported()
    assert message.id == messages.E013
    assert message.msg == (
        "REGSTACK_INSTANCE cannot import 'instance_that_raises.build': "
        "importing it raised RuntimeError: boom."
    )


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("tests.instances.not_a_regstack", "is a int, not a RegStack or a function returning one"),
        ("tests.instances.returns_the_wrong_thing", "returned a dict, not a RegStack"),
        ("tests.instances.raises", "raised RuntimeError when called: cannot build it today"),
        ("tests.instances.needs_an_argument", "raised TypeError when called"),
    ],
)
def test_something_that_is_not_a_regstack_is_e014(path: str, words: str) -> None:
    with override_settings(REGSTACK=None, REGSTACK_INSTANCE=path):
        (message,) = reported()
    assert message.id == messages.E014
    assert words in message.msg
    assert "takes no arguments" in str(message.hint)


@pytest.mark.parametrize(
    ("regstack", "words"),
    [
        ("jwt_secret", "must be a dict of RegStackConfig fields, not str"),
        (
            {"jwt_secret": SECRET, "api_prefx": "/x"},
            "'api_prefx', which is not a field of regstack's RegStackConfig; "
            "did you mean 'api_prefix'?",
        ),
        (
            {"jwt_secret": SECRET, "email": {"backnd": "smtp"}},
            "REGSTACK['email'] has the key 'backnd', which is not a field of regstack's "
            "EmailConfig; did you mean 'backend'?",
        ),
        (
            {"jwt_secret": SECRET, "jwt_ttl_seconds": 5, "base_url": "nope"},
            "refuses base_url: Input should be a valid URL",
        ),
        (
            # a database_url of its own: on the PostgreSQL leg there is no default (E017)
            {"jwt_secret": "short-and-secret", "database_url": "sqlite+aiosqlite:///:memory:"},
            "jwt_secret is too short (16 chars",
        ),
    ],
)
def test_an_invalid_regstack_setting_is_e015_with_field_names_and_no_secret(
    regstack: object, words: str
) -> None:
    with override_settings(REGSTACK=regstack):
        found = reported()
        with pytest.raises(ImproperlyConfigured) as raised:
            regstack_django.get_regstack()
    assert ids(found) == [messages.E015]
    assert words in found[0].msg
    for text in (found[0].msg, str(found[0].hint), str(raised.value)):
        assert SECRET not in text
        assert "short-and-secret" not in text


def test_every_invalid_field_is_named_at_once() -> None:
    with override_settings(
        REGSTACK={"jwt_secret": SECRET, "jwt_ttl_seconds": 5, "sms_code_length": 99}
    ):
        (message,) = reported()
    assert "jwt_ttl_seconds: Input should be greater than or equal to 60" in message.msg
    assert "sms_code_length: Input should be less than or equal to 10" in message.msg


def test_both_settings_is_e016() -> None:
    with override_settings(REGSTACK_INSTANCE="tests.instances.build"):
        assert ids(reported()) == [messages.E016]


def test_a_missing_database_folder_is_e017_naming_the_path(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/var/regstack.sqlite3"
    with override_settings(REGSTACK={"jwt_secret": SECRET, "database_url": url}):
        (message,) = reported()
        with pytest.raises(ImproperlyConfigured, match=messages.E017):
            regstack_django.get_regstack()
    assert message.id == messages.E017
    assert f"the folder '{tmp_path}/var' does not exist" in message.msg


@NOT_SQLITE
def test_no_default_database_location_is_e017() -> None:
    databases = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "site"}}
    with override_settings(DATABASES=databases, REGSTACK={"jwt_secret": SECRET}):
        (message,) = reported()
    assert message.id == messages.E017
    assert "no default location" in message.msg


def test_a_relative_sqlite_path_is_w004_resolved_from_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = "sqlite+aiosqlite:///./regstack.db"
    with override_settings(REGSTACK={"jwt_secret": SECRET, "database_url": url}):
        (message,) = reported()
        assert isinstance(regstack_django.get_regstack(), RegStack)  # only a warning
    assert message.id == messages.W004
    assert str(tmp_path / "regstack.db") in message.msg


def test_regstack_configured_but_not_installed_is_e019(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "regstack" else real(name, *a)
    )
    with override_settings(REGSTACK={"jwt_secret": SECRET}):
        (message,) = reported()
    assert message.id == messages.E019
    assert "pip install 'regstack-django[regstack]'" in str(message.hint)


def _receiver(sender: object, **kwargs: Any) -> None:
    pass


def test_receivers_without_a_configured_regstack_is_w002() -> None:
    with override_settings(REGSTACK=None):
        assert reported() == []
        with connected(signals.user_registered, _receiver):
            (message,) = reported()
    assert message.id == messages.W002
    assert "nothing fires unless the project calls regstack_django.attach()" in message.msg


def test_regstack_django_after_staticfiles_is_w003() -> None:
    from django.conf import settings

    after = [*settings.INSTALLED_APPS, "django.contrib.staticfiles"]
    before = ["django.contrib.staticfiles", *settings.INSTALLED_APPS]
    with override_settings(INSTALLED_APPS=after):
        assert reported() == []
    with override_settings(INSTALLED_APPS=before):
        (message,) = reported()
    assert message.id == messages.W003
    assert "'manage.py runserver' is then the one staticfiles provides" in message.msg
    assert "before 'django.contrib.staticfiles'" in str(message.hint)


def _no_kwargs(sender: object) -> None:
    pass


def _needs_user(sender: object, user: object, **kwargs: Any) -> None:
    pass


def test_a_receiver_the_event_cannot_call_is_e018() -> None:
    with (
        connected(signals.oauth_signin_started, _needs_user),
        connected(signals.user_deleted, _no_kwargs),
    ):
        found = list(check_receivers())
    assert ids(found) == [messages.E018, messages.E018]
    assert (
        "tests.hosting.test_regstack_settings._needs_user of "
        "regstack_django.signals.oauth_signin_started" in found[0].msg
    )
    assert "requires 'user', which 'oauth_signin_started' does not always carry" in found[0].msg
    assert "does not accept **kwargs" in found[1].msg
    assert "kwargs.get('user')" in found[0].hint  # oauth_signin_started: link mode only
    assert found[1].hint.endswith("take only what this event carries: user.")
    with connected(signals.verification_requested, _needs_user):
        (no_user,) = check_receivers()
    # verification_requested never carries user: the hint must not suggest it.
    assert "user" not in no_user.hint.partition("carries:")[2]
    assert "email, url, url_without_token" in no_user.hint
    with connected(signals.user_deleted, _needs_user):  # user_deleted always carries user
        assert list(check_receivers()) == []


def test_the_check_command_reports_the_new_ids() -> None:
    with (
        override_settings(REGSTACK=None, REGSTACK_INSTANCE="tests.nowhere.build"),
        pytest.raises(SystemCheckError, match=r"regstack_django\.E013"),
    ):
        call_command("check")
    with (
        connected(signals.user_deleted, _no_kwargs),
        pytest.raises(SystemCheckError, match=r"regstack_django\.E018"),
    ):
        call_command("check")


# --- the app must be installed ---------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: regstack_django.get_registry(), "get_registry()"),
        (lambda: regstack_django.get_regstack(), "get_regstack()"),
        (lambda: regstack_django.attach(instances.instance), "attach()"),
    ],
)
def test_without_the_app_installed_each_entry_point_says_so(call: Any, name: str) -> None:
    with (
        override_settings(INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"]),
        pytest.raises(ImproperlyConfigured) as raised,
    ):
        call()
    assert str(raised.value) == f"regstack_django.{name} needs 'regstack_django' in INSTALLED_APPS."


def test_regstack_hooks_says_when_the_listed_receivers_get_nothing() -> None:
    from io import StringIO

    out, err = StringIO(), StringIO()
    with override_settings(REGSTACK=None), connected(signals.user_registered, _receiver):
        call_command("regstack_hooks", "user_registered", stdout=out, stderr=err)
    assert "tests.hosting.test_regstack_settings._receiver" in out.getvalue()
    assert err.getvalue().startswith("regstack_django.W002: Receivers are connected")


def test_a_factory_that_asks_for_the_instance_it_builds_is_told_so() -> None:
    with (
        override_settings(REGSTACK=None, REGSTACK_INSTANCE="tests.instances.asks_for_itself"),
        pytest.raises(ImproperlyConfigured, match="while it was being built"),
    ):
        regstack_django.get_regstack()
