"""Loaders for the papers' real datasets in their public layouts (``data_root`` set)."""
