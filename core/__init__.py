"""Shared kernel: organisations, users, roles, the acting user, audit records, money. No Flask here."""
