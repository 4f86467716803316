"""One row per receiver call: the ORM write of the request benchmark's receiver."""

from __future__ import annotations

from django.db import models


class Delivery(models.Model):
    """One receiver call, recorded through the ORM."""

    event = models.CharField(max_length=100)
    receiver = models.CharField(max_length=200)
    detail = models.CharField(max_length=200, blank=True)
