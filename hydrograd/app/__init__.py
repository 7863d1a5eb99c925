"""The command line (``hydrograd demo``, ``hydrograd run CONFIG.yaml``), its run files and the demo."""
