"""Procurement: catalogue, tenders and rules, orders, invoices, audits. May import trace and core; never Flask."""
