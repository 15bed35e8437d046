"""The pure decision core: history and site facts, decide, explain, outcome classification."""
