"""Notifications of guard breaches, kills, halts, liquidation warnings and fills."""
