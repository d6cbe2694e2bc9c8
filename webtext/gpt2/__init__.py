"""gpt2 stage."""
