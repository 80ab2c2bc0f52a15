"""Hostile step files for ``tests/suite/test_adversarial.py``.

Each ``*.py`` here is appended to the reference solution of the step it
attacks (see ``CASES`` in the test module), so the step keeps its API and
adds one hostile behaviour, at import or in a method. The test grades a copy
of ``solutions/`` with that one file replaced.
"""
