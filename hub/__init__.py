"""Fireflow Hub: the real-time hub for kitchens, tables, money and riders."""
