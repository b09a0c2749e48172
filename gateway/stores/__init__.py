"""Metadata and session stores. Each backend library is imported only in its own module."""
