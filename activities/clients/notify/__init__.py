"""Notifications: who is told when a renewal needs someone, and how.

``models`` (the event a renewal emits, the delivery requests), ``config`` (the inventory's
``notifications:`` block), ``render`` (one message, laid out per channel: JSON webhook,
Microsoft Teams Adaptive Card, Slack Block Kit, Webex markdown, e-mail) and ``deliver``
(sending it, with errors that say whether retrying can help). Secrets (webhook URLs of
Teams and Slack, the Webex token, the HMAC secret, the SMTP password) are references,
resolved only when sending. This package never imports temporalio.
"""
