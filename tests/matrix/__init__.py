"""The role matrix: who may call which API endpoint, admin view and admin action (table.py)."""
