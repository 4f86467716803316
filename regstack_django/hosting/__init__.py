"""The one RegStack built from settings."""
