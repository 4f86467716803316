# signups/receivers.py
from django.dispatch import receiver
from regstack_django import signals

from .models import SignupEvent


@receiver(signals.verification_requested)
def verification_requested(sender, email, **kwargs):
    # E-mail sign-up with verification on (regstack's default): no user exists
    # yet, only the address. Never store or log `url`: it holds a live token.
    SignupEvent.objects.create(event="verification_requested", email=email)


@receiver(signals.user_verified)  # verification on: POST /verify with the e-mailed token
@receiver(signals.user_registered)  # verification off, or a new account from OAuth
def account_created(sender, signal, user, **kwargs):
    SignupEvent.objects.create(event=signals.event_name(signal), email=user.email)


@receiver(signals.user_logged_in)
async def logged_in(sender, user, **kwargs):
    await SignupEvent.objects.acreate(event="user_logged_in", email=user.email)
