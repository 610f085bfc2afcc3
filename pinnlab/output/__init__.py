"""Results: evaluation on grids, HDF5 + XDMF files, figures, re-export, reading back."""
