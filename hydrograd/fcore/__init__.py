"""The modules of smash's compiled core (``smash.fcore``) that programs import directly.

smash exposes its Fortran routines through f90wrap modules under ``smash.fcore``; a program that
maps ``smash`` to hydrograd (``sys.modules["smash"] = hydrograd``, or the test runner's alias)
finds here the ones it uses: ``_mwd_metrics``, smash's metric functions of two series. The rest
of smash's compiled core (its derived types, operators and adjoint) has no counterpart: its
modules are not importable from hydrograd.
"""
