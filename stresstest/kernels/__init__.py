"""Pure numerical kernels: numpy/scipy arrays in, arrays out; no xarray, no I/O."""
