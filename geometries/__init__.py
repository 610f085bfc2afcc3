"""Named domains shared by the equation modules (`from geometries.l_shape import l_shape`)."""
