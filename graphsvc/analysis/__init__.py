"""Analyses written once over the store port: impact, ownership, change conflicts, readiness.

Modules (import the one you need; nothing is imported here, so importing the
package compiles nothing):

* :mod:`graphsvc.analysis.impact`: ``impact``, ``dependencies`` (PRODUCT.md 4.2).
* :mod:`graphsvc.analysis.ownership`: ``ownership``, ``orphans``, ``ghost_owners`` (4.3).
* :mod:`graphsvc.analysis.changes`: ``change_impact`` with conflicts and risk (4.4).
* :mod:`graphsvc.analysis.readiness`: ``consolidation_readiness``,
  ``consolidation_candidates`` (4.6).

Every function takes ``as_of`` where the port allows it and passes it to every
store call (4.5), and returns frozen dataclasses shaped as PRODUCT.md 4.7.
"""
