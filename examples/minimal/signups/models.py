# signups/models.py
from django.db import models


class SignupEvent(models.Model):
    event = models.CharField(max_length=40)
    email = models.EmailField()
    at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.event} {self.email}"
