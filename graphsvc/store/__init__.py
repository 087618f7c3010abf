"""The storage port (``base``), its backends and the factory that picks one."""
