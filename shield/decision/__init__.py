"""The decision core: evaluate (gather every fact, then decide), decide, history and site facts,
explain and rule tests (both through evaluate), outcome classification and takeover risk."""
