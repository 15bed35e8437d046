"""Replay: recorded decision lines scored again against a candidate rule pack and config."""
