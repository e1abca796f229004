"""ITSM: the change record a renewal implements, checked before it writes and told the outcome.

Two adapters share one contract (:class:`~activities.clients.itsm.base.ItsmClient`): a generic
JSON webhook (``webhook.py``, docs/itsm.md) and ServiceNow's Table API (``servicenow.py``).
This package never imports temporalio.
"""
