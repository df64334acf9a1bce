"""The torch backend (in progress)."""
