"""Audit area: the audit log and its filters."""
