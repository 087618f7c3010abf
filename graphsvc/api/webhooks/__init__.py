"""Webhooks (PRODUCT.md 8): subscriptions to the event feed delivered as signed POSTs.

* :mod:`.sealing`: signing secrets, made here and kept sealed at rest.
* :mod:`.targets`: which URLs may receive deliveries (no private networks).
* :mod:`.signing`: the Standard Webhooks signature.
* :mod:`.delivery`: the delivery worker (ordered, batched, retried, leased).
* :mod:`.admin`: the operations REST, GraphQL and the CLI share.
* :mod:`.rest`: the REST routes under ``/api/v1/webhooks``.
"""
