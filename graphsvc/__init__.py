"""graphsvc: a CMDB and dependency-graph service."""

__version__ = "0.1.0"
