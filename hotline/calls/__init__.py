"""Calls: the stored state of each call and its append-only event log."""
