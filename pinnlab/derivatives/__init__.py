"""Derivatives of the network's fields: names, autograd, jets, forward mode, compilation."""
