"""Pure business rules over polars frames and frozen records: no I/O, no framework imports."""
