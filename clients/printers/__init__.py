"""Printers seen from the outside: a loopback ESC/POS emulator (``emulator``) for tests and the demo."""
