"""The auditor workbench: surplus retention, two-invoice reconciliation, prescribing and circulation monitoring,
credit rating, and the audit runs that compute them for a period (rulebook 0, 3, 4, 5.6, 6, 7)."""
