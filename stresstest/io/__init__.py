"""Economy readers and writers: pymrio, WIOD wide CSV, CEADs workbooks, long CSV, netCDF.

Every reader returns a validated economy (:func:`stresstest.economy.make_economy`); the
mappings are documented in ``docs/formats.md``.
"""

from __future__ import annotations

from ..economy import load_economy, save_economy
from .ceads import read_ceads
from .longcsv import read_csv, write_csv
from .pymrio import from_pymrio
from .wiod import read_wiod

__all__ = ["from_pymrio", "read_wiod", "read_ceads", "read_csv", "write_csv", "read_netcdf",
           "write_netcdf"]


def read_netcdf(path):
    """Read a netCDF economy (``stresstest.load_economy``); exact round trip with
    :func:`write_netcdf`."""
    return load_economy(path)


def write_netcdf(economy, path):
    """Write an economy to netCDF atomically (``stresstest.save_economy``)."""
    return save_economy(economy, path)
