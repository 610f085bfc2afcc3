"""One PDE solve: settings, then train, evaluate and write."""
