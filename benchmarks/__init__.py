"""Side-by-side benchmarks of hydrograd against the reference hydro-smash 1.3.0."""
