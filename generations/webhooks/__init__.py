"""Signed webhooks (Standard Webhooks): project admins register endpoints and pick events;
the app's events become delivery rows, sent by Celery with retries and backoff.

- `events`: what is announced — flow.apply's effect for state moves (after the
  notifications, in the move's transaction) and the budget threshold — as delivery rows
  kicked on commit.
- `delivery`: sending one delivery (claim under a lease, sign, send to a checked and
  pinned address, record the attempt, retry with backoff or give up), the sweep, replay,
  and disabling an endpoint that keeps failing.
- `network`: which addresses may be reached (no private, loopback or link-local unless
  settings allow a network) and the pinned connection.
- `signing`: secrets and the `webhook-*` headers.
- `endpoints`: what project admins do (register, edit, enable, rotate the secret, test).

This package sits below the money (spend announces budget thresholds) and above the
messages it uses (notifications to tell admins, dispatch to kick the worker).
"""
