"""Training: the loop, its optimizers and what happens between their steps."""
