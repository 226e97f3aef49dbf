"""Data tables of the Fujian demo world: organisations, users and the drug catalogue."""
