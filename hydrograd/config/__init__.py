"""User dicts -> checked, frozen specs. Depends only on the check vocabulary (``hydrograd._validate``),
the core's tables and the optimizer registry; builds nothing."""
