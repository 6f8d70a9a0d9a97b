"""The billing port: what flows do to a subscription (pause, resume, cancel, change plan, a
one-cycle discount, a trial extension, resubscribe) and the payment page's data.

Flows never call it: a flow records a ``BillingRequest`` on its turn; the turn's writer stores
it as a ``BillingAction`` row and applies it to the local ledger (``ledger.py``) in the same
transaction. The relay (``relay.py``) then hands each row to the configured port — the local
ledger, which has nothing more to do, or the operator's signed webhook (``webhook.py``), which
gets every action exactly once per idempotency key.
"""
