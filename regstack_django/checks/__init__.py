"""What ``manage.py check`` runs, and its words."""
