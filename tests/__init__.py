"""pinnlab's tests, one folder per layer of the package. A package, so that a test module reuses
another's helpers as ``tests.training.test_checkpoints``: a name no benchmark script shadows."""
