"""Tenders: procurement batches from demand reports through sealed bids to published awards (rulebook 1, 2, 0.6)."""
