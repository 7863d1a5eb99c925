"""Readers and writers of smash's file formats (forcing and descriptor GeoTIFFs, observed discharge
CSVs, setup YAML, mesh, model and network HDF5) and of netCDF results. They take and return
arrays, dicts and plain records; ``hydrograd.io`` is the public face."""
