"""The keras backend (in progress)."""
