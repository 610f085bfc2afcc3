"""The function being trained: networks and the field model around them."""
