"""Training phases: each optimizer is one phase that owns its optimizer and its state."""
