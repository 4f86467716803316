"""A real regstack app, a stand-in OAuth provider and an HTTP tour firing all 20 events.

It imports only regstack (with FastAPI) and httpx, never Django: it runs against bare regstack too.
"""
