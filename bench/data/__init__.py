"""Data sets of the dedup benchmark: generated Chinese companies (companies) and the FEBRL person
data (febrl). Scripts in bench/ import them as ``data.companies`` and ``data.febrl``."""
