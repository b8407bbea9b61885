"""The JSON API under /api/v1/ (Django Ninja): an interface beside the pages' views,
calling the same services and selectors — and so the same permission checks. See app.py."""
