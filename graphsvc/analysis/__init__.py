"""Analyses written once over the store port: impact, ownership, change conflicts, readiness."""
