"""Printing: kitchen tickets, receipts and the Z-report as ESC/POS bytes (``render``); jobs and agents come later."""
