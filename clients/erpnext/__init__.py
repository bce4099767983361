"""ERPNext seen from the outside: a loopback emulator of Frappe's REST API (``emulator``) for tests and the demo."""
