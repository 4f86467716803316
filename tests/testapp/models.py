"""A model receivers write to, so tests can look at what they did."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models


class Delivery(models.Model):
    """One receiver call, recorded through the ORM."""

    event = models.CharField(max_length=100)
    receiver = models.CharField(max_length=200)
    detail = models.CharField(max_length=200, blank=True)


class EmailUser(AbstractBaseUser):
    """A custom ``AUTH_USER_MODEL``: the e-mail is the username, no ``is_superuser``."""

    email = models.EmailField(unique=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
