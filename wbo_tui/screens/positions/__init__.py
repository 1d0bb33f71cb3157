"""Positions area: channel accounts and their positions, withdrawals, deposits."""
