"""Traceability core: one item, one code. This package shadows the standard library's ``trace``; never import that."""
