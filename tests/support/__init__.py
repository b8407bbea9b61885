"""Helpers shared by the tests: factories, fakes, the fake provider server, and
per-domain fixtures (spend, review, quality, hosted providers, limits)."""
