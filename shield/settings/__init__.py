"""Settings: shield.yaml + SHIELD_* env -> frozen dataclasses, every problem at once."""
