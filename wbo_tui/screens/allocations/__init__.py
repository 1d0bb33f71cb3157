"""Allocations area: allocation records, fund allocation rules, manual allocations."""
