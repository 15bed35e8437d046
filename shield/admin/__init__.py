"""The admin listener: health, readiness, metrics, bans, decisions, explain, reload."""
