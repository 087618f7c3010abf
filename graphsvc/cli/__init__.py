"""The graphsvc command line (composition root)."""
