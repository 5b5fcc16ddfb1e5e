"""Metrics for trained generators."""
