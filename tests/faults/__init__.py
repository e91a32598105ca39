"""Faults: the engine against a misbehaving provider, database and broker.

Each test runs a realistic batch through the real engine and the provider emulator,
injects one fault, and checks three things: every attempt finished (none lost or
stuck), each copy was moved at most once, and each recorded outcome is the one the
emulator shows (succeeded ⇔ the copy sits in the target folder).

A qcluster killed mid-job (SIGKILL, 2,000 copies) is covered in
tests/retraction/test_qcluster.py
(`test_it_loses_nothing_and_runs_nothing_twice_when_the_cluster_is_killed_mid_job`).
"""
